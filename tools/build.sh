#!/usr/bin/env bash
# Builds the pinned tools the test suite runs into .tools/bin (git-ignored):
#   pulumi, pulumi-resource-kubernetes   the real Pulumi engine and Kubernetes provider
#   kube-apiserver, etcd,                a real control plane
#   kube-controller-manager,
#   kube-scheduler, kubectl
#   kubelet, kube-proxy, coredns,        a real node: pods in containers, Services,
#   kube-router                          cluster DNS, NetworkPolicy enforced
#   actionlint                           lints .github/workflows
# The node's container runtime (containerd, runc, CNI plugins, iptables) comes
# from Debian: tools/node-packages.sh installs it.
#
# Why from source: this machine has no Docker, no internet and no release
# downloads; only Go and the Go module proxy. Each tool is built from a wrapper
# module under tools/<name>/ whose committed go.mod and go.sum pin every
# dependency (builds run with -mod=readonly, so nothing is resolved at build
# time). A stamp per binary records the version and a hash of its recipe; a
# binary whose stamp matches is not rebuilt, so a second run takes seconds.
#
# Usage: tools/build.sh   (or `make tools`; `make tools-clean` removes .tools)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root
readonly wrappers="$repo_root/tools"
readonly out="$repo_root/.tools"
readonly bin="$out/bin"
readonly stamps="$out/stamps"
readonly src="$out/src"

readonly pulumi_version=v3.274.1
# The provider's only version on the proxy is this pseudo-version; its commit
# is the v4.25.0 release tag of pulumi/pulumi-kubernetes.
readonly provider_module=github.com/pulumi/pulumi-kubernetes/provider/v4
readonly provider_version=4.25.0
readonly kubernetes_version=v1.35.4
readonly kubernetes_release_date=2026-04-15T18:01:22Z # the tag's commit time, as the proxy reports it
readonly etcd_version=v3.6.16
readonly actionlint_version=v1.7.12
readonly coredns_version=v1.15.0
# The only version the proxy serves; security reports exist for it, so it
# runs in the test node only, never in a stack.
readonly kube_router_module=github.com/cloudnativelabs/kube-router/v2
readonly kube_router_version=v2.1.0

# The committed go.mod/go.sum are the whole truth: no go.work, no module
# resolution, no VCS stamping of this repository into the binaries.
export GOWORK=off
export GOFLAGS="-trimpath -mod=readonly -buildvcs=false"
export CGO_ENABLED=0

log() { printf '%s\n' "$*" >&2; }
die() { log "tools/build.sh: $*"; exit 1; }
elapsed_since() { local s=$((SECONDS - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# recipe_hash WRAPPER ARGS... hashes everything that decides a binary's bytes.
recipe_hash() {
	local wrapper=$1
	shift
	{
		go env GOVERSION
		printf '%s\n' "$@"
		cat "$wrappers/$wrapper/go.mod" "$wrappers/$wrapper/go.sum"
		cat "$wrappers/$wrapper"/*.go 2>/dev/null || true
	} | sha256sum | cut -c1-16
}

# up_to_date NAME STAMP succeeds when NAME was built from the same recipe.
up_to_date() {
	[[ -x "$bin/$1" && -f "$stamps/$1" && "$(<"$stamps/$1")" == "$2" ]]
}

# announce NAME VERSION ETA starts a build's clock.
announce() {
	build_started=$SECONDS
	log "building $1 $2 (cold build takes $3 on 2 busy cores)..."
}

# install_built NAME VERSION STAMP moves a finished build into place.
install_built() {
	mv -f "$bin/.$1.partial" "$bin/$1"
	printf '%s\n' "$3" >"$stamps/$1"
	log "built $1 $2 in $(elapsed_since "$build_started")"
}

# build_tool NAME VERSION ETA WRAPPER PACKAGE GO-BUILD-ARGS... builds PACKAGE
# from its wrapper module into $bin/NAME unless its stamp already matches.
build_tool() {
	local name=$1 version=$2 eta=$3 wrapper=$4 package=$5
	shift 5
	local stamp
	stamp="$version $(recipe_hash "$wrapper" "$package" "$@")"
	if up_to_date "$name" "$stamp"; then
		log "$name $version is up to date"
		return
	fi
	announce "$name" "$version" "$eta"
	(cd "$wrappers/$wrapper" && go build -o "$bin/.$name.partial" "$@" "$package")
	install_built "$name" "$version" "$stamp"
}

# module_dir WRAPPER MODULE prints where MODULE, at the version WRAPPER pins,
# sits in the module cache, downloading it first on a fresh machine.
module_dir() {
	(cd "$wrappers/$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2")
}

build_pulumi() {
	build_tool pulumi "$pulumi_version" 5-23m pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
		-tags osusergo,grpcnotrace \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version"
}

# The provider's main.go embeds schema-embed.json and terraform-mapping-embed.json,
# which its module zip lacks. Like upstream's `go generate`, derive them from
# the schema.json and terraform-mapping.json that the zip has, in a copy of the
# main package placed next to the wrapper's go.mod and go.sum.
build_pulumi_kubernetes_provider() {
	local name=pulumi-resource-kubernetes package_dir="$src/pulumi-resource-kubernetes"
	local ldflags="-s -w -X $provider_module/pkg/version.Version=$provider_version"
	local stamp
	stamp="$provider_version $(recipe_hash pulumi-kubernetes "$ldflags")"
	if up_to_date "$name" "$stamp"; then
		log "$name $provider_version is up to date"
		return
	fi
	announce "$name" "$provider_version" 11-17m
	local upstream
	upstream="$(module_dir pulumi-kubernetes "$provider_module")/cmd/pulumi-resource-kubernetes"
	rm -rf "$package_dir"
	mkdir -p "$package_dir"
	cp "$wrappers/pulumi-kubernetes/go.mod" "$wrappers/pulumi-kubernetes/go.sum" "$package_dir/"
	cp "$upstream"/{main.go,generate.go,schema.json,terraform-mapping.json} "$package_dir/"
	chmod -R u+w "$package_dir" # module cache files are read-only
	(cd "$package_dir" && VERSION="$provider_version" go run generate.go)
	(cd "$package_dir" && go build -o "$bin/.$name.partial" -ldflags "$ldflags" .)
	install_built "$name" "$provider_version" "$stamp"
}

# kube_build NAME ETA builds one binary of k8s.io/kubernetes with the version
# stamps of its release build (hack/lib/version.sh) and its build tags.
kube_build() {
	local name=$1 eta=$2 minor=${kubernetes_version#v1.}
	minor=${minor%%.*}
	local ldflags="-s -w" pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$kubernetes_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$kubernetes_release_date"
	done
	build_tool "$name" "$kubernetes_version" "$eta" kubernetes "k8s.io/kubernetes/cmd/$name" \
		-tags selinux,notest,grpcnotrace -ldflags "$ldflags"
}

build_etcd() {
	build_tool etcd "$etcd_version" 1m etcd go.etcd.io/etcd/server/v3 -ldflags "-s -w"
}

# CoreDNS with the few plugins the test node's cluster DNS needs: the main
# package is tools/coredns/main.go.
build_coredns() {
	build_tool coredns "$coredns_version" 3m coredns . \
		-ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$coredns_version"
}

build_kube_router() {
	build_tool kube-router "$kube_router_version" 3m kube-router "$kube_router_module/cmd/kube-router" \
		-ldflags "-s -w -X $kube_router_module/pkg/version.Version=$kube_router_version"
}

build_actionlint() {
	build_tool actionlint "$actionlint_version" 40s actionlint github.com/rhysd/actionlint/cmd/actionlint \
		-ldflags "-s -w -X github.com/rhysd/actionlint.version=${actionlint_version#v}"
}

# check_version NAME EXPECTED COMMAND... runs a built binary's version command
# and fails unless its output names the pinned version.
check_version() {
	local name=$1 expected=$2 output
	shift 2
	output="$("$@" 2>&1)" || die "$name: \`$*\` failed: $output"
	[[ "$output" == *"$expected"* ]] || die "$name reports \"${output%%$'\n'*}\", want $expected"
	versions+=("$name $expected")
}

# The provider has no version flag (without arguments it starts serving), so
# have the engine start it and print the version of the schema it serves.
provider_schema_version() {
	local pulumi_home status=0
	pulumi_home="$(mktemp -d)"
	PULUMI_HOME="$pulumi_home" PULUMI_SKIP_UPDATE_CHECK=true \
		"$bin/pulumi" package get-schema "$bin/pulumi-resource-kubernetes" |
		sed -n 's/^  "version": "\(.*\)",$/\1/p' || status=$?
	rm -rf "$pulumi_home"
	return "$status"
}

main() {
	command -v go >/dev/null || die "go is not on PATH"
	mkdir -p "$bin" "$stamps"

	# Engineers share one working tree: one build at a time.
	exec 9>"$out/.lock"
	if ! flock -n 9; then
		log "waiting for another tools/build.sh to finish..."
		flock 9
	fi

	local started=$SECONDS
	build_pulumi
	build_pulumi_kubernetes_provider
	kube_build kube-apiserver 6-8m
	build_etcd
	kube_build kube-controller-manager 1.5m
	kube_build kube-scheduler 10s
	kube_build kubectl 1.5m
	build_actionlint
	kube_build kubelet 3-5m
	kube_build kube-proxy 30s
	build_coredns
	build_kube_router

	local versions=()
	check_version pulumi "$pulumi_version" "$bin/pulumi" version
	check_version pulumi-resource-kubernetes "$provider_version" provider_schema_version
	check_version kube-apiserver "$kubernetes_version" "$bin/kube-apiserver" --version
	check_version kube-controller-manager "$kubernetes_version" "$bin/kube-controller-manager" --version
	check_version kube-scheduler "$kubernetes_version" "$bin/kube-scheduler" --version
	check_version kubectl "$kubernetes_version" "$bin/kubectl" version --client
	check_version etcd "${etcd_version#v}" "$bin/etcd" --version
	check_version actionlint "${actionlint_version#v}" "$bin/actionlint" -version
	check_version kubelet "$kubernetes_version" "$bin/kubelet" --version
	check_version kube-proxy "$kubernetes_version" "$bin/kube-proxy" --version
	check_version coredns "${coredns_version#v}" "$bin/coredns" -version
	check_version kube-router "$kube_router_version" "$bin/kube-router" --version
	local summary
	summary="$(printf ', %s' "${versions[@]}")"
	echo "tools ready in .tools/bin after $(elapsed_since "$started"): ${summary#, }"
}

main "$@"
