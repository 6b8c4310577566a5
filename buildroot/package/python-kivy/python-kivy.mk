################################################################################
#
# python-kivy
#
################################################################################

PYTHON_KIVY_VERSION = 2.3.1
PYTHON_KIVY_SOURCE = Kivy-$(PYTHON_KIVY_VERSION).tar.gz
PYTHON_KIVY_SITE = https://files.pythonhosted.org/packages/de/48/c40f023dc103bdbd56db11facbb2d0ecbf4b019f7392875ee2a8227cb51e
PYTHON_KIVY_SETUP_TYPE = setuptools
PYTHON_KIVY_LICENSE = MIT
PYTHON_KIVY_LICENSE_FILES = LICENSE
# setup.py imports packaging and cythonizes with host-python-cython (3.1,
# which 0001-*.patch makes Kivy 2.3.1 build with). The sdist pins its build
# tools (setuptools~=69.2, cython<=3.0.11) only for wheels it ships itself:
# build with Buildroot's (make image-check builds it with the same pins).
PYTHON_KIVY_DEPENDENCIES = \
	host-pkgconf \
	host-python-cython \
	host-python-packaging \
	libgles \
	mtdev \
	sdl2 \
	sdl2_image \
	sdl2_mixer \
	sdl2_ttf
PYTHON_KIVY_BUILD_OPTS = --skip-dependency-check

# SDL2 window and OpenGL ES 2 (libGLESv2, 0002-*.patch): SDL2 talks to the
# Wayland compositor (cellbridge-compositor.service). No X11 or GStreamer.
PYTHON_KIVY_ENV = \
	KIVY_CROSS_PLATFORM=linux \
	KIVY_CROSS_SYSROOT=$(STAGING_DIR) \
	KIVY_GRAPHICS=gles \
	KIVY_SDL2_PATH=$(STAGING_DIR)/usr/include/SDL2 \
	USE_EGL=1 \
	USE_GSTREAMER=0 \
	USE_OPENGL_ES2=1 \
	USE_PANGOFT2=0 \
	USE_SDL2=1 \
	USE_WAYLAND=0 \
	USE_X11=0

define PYTHON_KIVY_REMOVE_TESTS_AND_EXAMPLES
	rm -rf $(TARGET_DIR)/usr/lib/python$(PYTHON3_VERSION_MAJOR)/site-packages/kivy/tests
	rm -rf $(TARGET_DIR)/usr/share/kivy-examples
endef
PYTHON_KIVY_POST_INSTALL_TARGET_HOOKS += PYTHON_KIVY_REMOVE_TESTS_AND_EXAMPLES

$(eval $(python-package))
