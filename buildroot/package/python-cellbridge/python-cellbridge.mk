################################################################################
#
# python-cellbridge
#
################################################################################

# Built from this repository's own tree (the parent of the BR2_EXTERNAL).
PYTHON_CELLBRIDGE_VERSION = 0.1.0
PYTHON_CELLBRIDGE_SITE = $(BR2_EXTERNAL_CELLBRIDGE_PATH)/..
PYTHON_CELLBRIDGE_SITE_METHOD = local
PYTHON_CELLBRIDGE_SETUP_TYPE = setuptools
PYTHON_CELLBRIDGE_LICENSE = AGPL-3.0+
# Only the Python sources: not the image tree, `make image` output or caches.
PYTHON_CELLBRIDGE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /.venv --exclude /buildroot --exclude /output --exclude /tests \
	--exclude /bench --exclude /build --exclude /demo --exclude /.demo \
	--exclude '*.egg-info' --exclude .pytest_cache --exclude .mypy_cache \
	--exclude .ruff_cache --exclude .hypothesis --exclude __pycache__

# The gateway, the prison service, their staff consoles and the estate's tools
# run on the wing and prison hosts and the IT station, never on a tablet: keep
# them (and their keys' handling) off the image. What
# the agent needs of the enrolment contract (its bundle, its key and CSR) is
# in wire/ and common/, so no part of provisioning ships.
PYTHON_CELLBRIDGE_SITE_PACKAGES = $(TARGET_DIR)/usr/lib/python$(PYTHON3_VERSION_MAJOR)/site-packages
define PYTHON_CELLBRIDGE_REMOVE_HOST_ONLY_PARTS
	rm -rf $(PYTHON_CELLBRIDGE_SITE_PACKAGES)/gateway
	rm -rf $(PYTHON_CELLBRIDGE_SITE_PACKAGES)/provisioning
	rm -rf $(PYTHON_CELLBRIDGE_SITE_PACKAGES)/prison
	rm -rf $(PYTHON_CELLBRIDGE_SITE_PACKAGES)/common/staff_web
	rm -rf $(PYTHON_CELLBRIDGE_SITE_PACKAGES)/common/staff_output.py
	rm -rf $(PYTHON_CELLBRIDGE_SITE_PACKAGES)/cellbridge/demo.py
	rm -rf $(PYTHON_CELLBRIDGE_SITE_PACKAGES)/cellbridge/wing.py
	rm -rf $(PYTHON_CELLBRIDGE_SITE_PACKAGES)/cellbridge/fleet.py
endef
PYTHON_CELLBRIDGE_POST_INSTALL_TARGET_HOOKS += PYTHON_CELLBRIDGE_REMOVE_HOST_ONLY_PARTS

ifeq ($(BR2_PACKAGE_PYTHON_CELLBRIDGE_SHELL),)
define PYTHON_CELLBRIDGE_REMOVE_SHELL
	rm -rf $(TARGET_DIR)/usr/lib/python$(PYTHON3_VERSION_MAJOR)/site-packages/device
endef
PYTHON_CELLBRIDGE_POST_INSTALL_TARGET_HOOKS += PYTHON_CELLBRIDGE_REMOVE_SHELL
endif

$(eval $(python-package))
