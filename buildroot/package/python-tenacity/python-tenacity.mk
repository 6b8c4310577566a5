################################################################################
#
# python-tenacity
#
################################################################################

PYTHON_TENACITY_VERSION = 9.2.1
PYTHON_TENACITY_SOURCE = tenacity-$(PYTHON_TENACITY_VERSION).tar.gz
PYTHON_TENACITY_SITE = https://files.pythonhosted.org/packages/82/9e/497c1c8ebe5a5b5d1d4a7511aea22c0bb1a97e3170d98abdef0e1b34265a
PYTHON_TENACITY_SETUP_TYPE = hatch
PYTHON_TENACITY_LICENSE = Apache-2.0
PYTHON_TENACITY_LICENSE_FILES = LICENSE
PYTHON_TENACITY_DEPENDENCIES = host-python-hatch-vcs

$(eval $(python-package))
