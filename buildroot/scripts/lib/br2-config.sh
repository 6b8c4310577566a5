# shellcheck shell=sh
# Reads Buildroot's .config ($BR2_CONFIG) from post-build and post-image.

# config_value NAME: print the value of NAME (quotes removed, the tree's
# $(BR2_EXTERNAL_CELLBRIDGE_PATH) expanded); empty when unset.
config_value() {
	sed -n "s/^$1=//p" "$BR2_CONFIG" | tail -n 1 |
		sed -e 's/^"\(.*\)"$/\1/' \
			-e "s|\$(BR2_EXTERNAL_CELLBRIDGE_PATH)|$EXTERNAL|g"
}

# config_enabled NAME: true when NAME=y.
config_enabled() {
	[ "$(config_value "$1")" = y ]
}

deployment() {
	if config_enabled BR2_CELLBRIDGE_DEPLOYMENT_RELEASE; then
		echo release
	else
		echo development
	fi
}

# os_version: BR2_CELLBRIDGE_OS_VERSION, which must be a dotted number (the
# install-check hook compares bundle versions against it).
os_version() {
	version=$(config_value BR2_CELLBRIDGE_OS_VERSION)
	printf '%s\n' "$version" | grep -Eq '^[0-9]{1,9}(\.[0-9]{1,9}){0,3}$' ||
		die "BR2_CELLBRIDGE_OS_VERSION '$version' is not 1 to 4 dot-separated numbers"
	echo "$version"
}

die() {
	echo "cellbridge: $*" >&2
	exit 1
}
