#!/usr/bin/env bash
# Installs from Debian what the integration tests' real node runs on: the
# container runtime (containerd, runc), the CNI plugins, and the netfilter
# tools kube-proxy and kube-router call (iptables, ipset, conntrack).
# Skips what is installed; needs root (without it, says so and exits 0: the
# real-node tests then skip, and fail under CI=true).
#
# It also puts qemu-aarch64-static (Debian's qemu-user-static) into
# .tools/bin, to run the arm64 binaries of `make images` in a test. The
# package is downloaded and that one file extracted, never installed: the
# package ships binfmt_misc registrations (/usr/lib/binfmt.d, loaded by
# systemd-binfmt, and update-binfmts in its postinst when binfmt-support is
# there) that would make the host run every foreign binary through qemu.
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

# Debian 12's qemu-user-static; only qemu-aarch64-static is taken from it.
readonly qemu_package=qemu-user-static qemu_version=1:7.2+dfsg-7+deb12u
readonly tools_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/bin"

installed_version() { dpkg-query -W -f '${Status} ${Version}\n' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }

main() {
	extract_qemu_aarch64
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

# extract_qemu_aarch64 downloads the qemu-user-static package (no root
# needed) and copies its usr/bin/qemu-aarch64-static into .tools/bin. No
# maintainer script runs, so nothing is registered with binfmt_misc. A
# subshell, so the clean-up of its download directory is its own.
extract_qemu_aarch64() (
	local target="$tools_bin/qemu-aarch64-static"
	if [[ -x "$target" ]] && "$target" --version | grep -qF "Debian ${qemu_version}"; then
		return
	fi
	local work version
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	version=$(apt-cache policy "$qemu_package" | sed -n 's/^ *Candidate: //p')
	if [[ -z "$version" || "$version" == "(none)" ]]; then
		((EUID == 0)) || { echo "node-packages: apt knows no $qemu_package and only root can update its lists: run apt-get update" >&2; exit 1; }
		apt-get update -qq
		version=$(apt-cache policy "$qemu_package" | sed -n 's/^ *Candidate: //p')
	fi
	[[ "$version" == "$qemu_version"* ]] || {
		echo "node-packages: $qemu_package $version is offered; the tests were written against ${qemu_version}x" >&2
		exit 1
	}
	(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$qemu_package=$version")
	mkdir -p "$tools_bin"
	dpkg-deb --fsys-tarfile "$work"/"$qemu_package"_*.deb | tar -x -O ./usr/bin/qemu-aarch64-static > "$work/qemu-aarch64-static"
	install -m 0755 "$work/qemu-aarch64-static" "$target"
	echo "node-packages: extracted qemu-aarch64-static of $qemu_package $version into .tools/bin" >&2
)

main "$@"
