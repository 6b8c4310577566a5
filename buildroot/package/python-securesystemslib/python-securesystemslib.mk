################################################################################
#
# python-securesystemslib
#
################################################################################

PYTHON_SECURESYSTEMSLIB_VERSION = 1.6.0
PYTHON_SECURESYSTEMSLIB_SOURCE = securesystemslib-$(PYTHON_SECURESYSTEMSLIB_VERSION).tar.gz
PYTHON_SECURESYSTEMSLIB_SITE = https://files.pythonhosted.org/packages/6c/b7/68ce74b4c3ab753c2de907d035a4102b4510729393184af3c7bdfee04d18
PYTHON_SECURESYSTEMSLIB_SETUP_TYPE = hatch
# The sdist pins its build backend (hatchling==1.32.x) for reproducibility only; Buildroot's
# host-python-hatchling builds it the same (make image-check builds it with Buildroot's pins).
PYTHON_SECURESYSTEMSLIB_BUILD_OPTS = --skip-dependency-check
PYTHON_SECURESYSTEMSLIB_LICENSE = MIT
PYTHON_SECURESYSTEMSLIB_LICENSE_FILES = LICENSE

$(eval $(python-package))
