#!/usr/bin/env bash
# Installs from Debian what the integration tests' real node runs on: the
# container runtime (containerd, runc), the CNI plugins, and the netfilter
# tools kube-proxy and kube-router call (iptables, ipset, conntrack).
# Skips what is installed; needs root (without it, says so and exits 0: the
# real-node tests then skip, and fail under CI=true).
#
# Kubelet 1.35 is the last release that supports containerd 1.x: a Debian
# release with containerd 2 needs no change here, but the versions below
# say what the suite was written against and are checked.
set -euo pipefail

# package=version prefix expected (Debian 12 "bookworm").
readonly packages=(
	containerd=1.6.
	runc=1.1.
	containernetworking-plugins=1.1.
	iptables=1.8.
	ipset=7.
	conntrack=1:1.4.
)

installed_version() { dpkg-query -W -f '${Status} ${Version}\n' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }

main() {
	local missing=() entry name
	for entry in "${packages[@]}"; do
		name=${entry%%=*}
		[[ -n "$(installed_version "$name")" ]] || missing+=("$name")
	done
	if ((${#missing[@]} > 0)); then
		if ((EUID != 0)); then
			echo "node-packages: not root, so ${missing[*]} cannot be installed: the real-node tests will skip" >&2
			exit 0
		fi
		echo "node-packages: installing ${missing[*]} from Debian..." >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	local version
	for entry in "${packages[@]}"; do
		name=${entry%%=*}
		version=$(installed_version "$name")
		[[ "$version" == "${entry#*=}"* ]] || {
			echo "node-packages: $name $version is installed; the test node was written against ${entry#*=}x" >&2
			exit 1
		}
	done
	echo "node packages ready: $(for entry in "${packages[@]}"; do printf '%s %s, ' "${entry%%=*}" "$(installed_version "${entry%%=*}")"; done | sed 's/, $//')"
}

main "$@"
