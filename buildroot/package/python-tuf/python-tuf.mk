################################################################################
#
# python-tuf
#
################################################################################

PYTHON_TUF_VERSION = 7.0.1
PYTHON_TUF_SOURCE = tuf-$(PYTHON_TUF_VERSION).tar.gz
PYTHON_TUF_SITE = https://files.pythonhosted.org/packages/9c/dd/52e7390cbac308e6b1cfe6be9bc3a96fe26326d5893cc297a52bb72792a9
PYTHON_TUF_SETUP_TYPE = hatch
# The sdist pins its build backend (hatchling==1.32.x) for reproducibility only; Buildroot's
# host-python-hatchling builds it the same (make image-check builds it with Buildroot's pins).
PYTHON_TUF_BUILD_OPTS = --skip-dependency-check
PYTHON_TUF_LICENSE = Apache-2.0 or MIT
PYTHON_TUF_LICENSE_FILES = LICENSE LICENSE-MIT

$(eval $(python-package))
