# The README's commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(TOOLS_BIN):$(PATH)
export GOFLAGS := -trimpath

.PHONY: test tools lint unit integration

## test: the whole suite; builds and installs its own tools, needs no
## cluster (the integration tests start one, with a real node, as root)
test: tools lint unit integration

## tools: build the pinned test tools into .tools/bin (skips what is built)
## and install the test node's container runtime from Debian (as root)
tools:
	./tools/build.sh
	./tools/node-packages.sh

.PHONY: tools-clean
## tools-clean: remove .tools (the next `make tools` rebuilds from Go's build cache)
tools-clean:
	rm -rf .tools

## lint: formatting, vet and workflow lint
lint: lint-workflows
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

.PHONY: lint-workflows
## lint-workflows: actionlint on .github/workflows (shellcheck and pyflakes off,
## so the result does not depend on what else is installed)
lint-workflows:
	actionlint -shellcheck= -pyflakes=

## unit: fast tests, no tools needed
unit:
	go test -count=1 ./...

## integration: real Pulumi engine, real provider, a real cluster with a
## real node (as root, inside a sandbox of namespaces); -v prints the RBAC
## and reachability matrices and the time of every step
integration:
	cd integration && go vet ./... && go test -count=1 -v -timeout 45m ./...

.PHONY: isolation
## isolation: only the NetworkPolicy reachability checks (engine unit tests,
## then both stacks on a live cluster: the matrix evaluated and measured)
isolation:
	cd integration && go test -count=1 ./reachability/ && \
	  go test -count=1 -v -timeout 15m -run '^TestStacksOnALiveCluster$$/^(pulumi_up|NetworkPolicy)' .

.PHONY: payments-binary fake-antaeus-binary images bench fuzz
# How every binary that goes into an image is built: static, reproducible.
GO_BUILD_STATIC := CGO_ENABLED=0 go build -trimpath -ldflags="-s -w"
PAYMENTS_BIN ?= $(CURDIR)/.tools/payments
## payments-binary: the payments server, built exactly as the Dockerfile and the
## tests build it (PAYMENTS_BIN=output path)
payments-binary:
	$(GO_BUILD_STATIC) -o $(PAYMENTS_BIN) ./payments

FAKE_ANTAEUS_BIN ?= $(CURDIR)/.tools/fake-antaeus
## fake-antaeus-binary: the Antaeus stand-in for tests and reviewers
## (FAKE_ANTAEUS_BIN=output path)
fake-antaeus-binary:
	$(GO_BUILD_STATIC) -o $(FAKE_ANTAEUS_BIN) ./cmd/fake-antaeus

IMAGES_DIR ?= $(CURDIR)/.images
## images: write .images/payments.tar and .images/fake-antaeus.tar (the Antaeus
## STAND-IN), OCI archives for `kind load image-archive` or
## `ctr -n k8s.io images import`, each one image for linux/amd64 and
## linux/arm64 (the binaries are always built for linux, on any machine);
## no Docker needed
images:
	go run ./cmd/image-archives -out $(IMAGES_DIR)

## bench: payments vs a bare net/http handler under wrk on loopback (needs wrk; ~1 min)
bench:
	go run ./payments/bench

FUZZTIME ?= 2m
## fuzz: fuzz the charge endpoint for FUZZTIME (default 2m)
fuzz:
	go test -run '^$$' -fuzz '^FuzzCharge$$' -fuzztime $(FUZZTIME) ./payments/server

# ---------------------------------------------------------------------------
# Deploying a stack. These targets run the official Pulumi CLI (with its Go
# language host) from your own PATH, never the test build in .tools/bin.
# `up`, `preview`, `down` and `acceptance` need a cluster; `render` does not.
#   make up [STACK=local]                        check, then deploy (creates the stack)
#   make acceptance [STACK=local] [URL=url]      pay Antaeus's invoices, judge
#   make drift STACK=dev                         fail if the cluster moved away from the stack
#   make down [STACK=local]                      destroy the stack, and its state
# STACK is local by default: the quick start's kind cluster (README.md).
# None of them writes a stack file: a stack's settings are in its committed
# Pulumi.<stack>.yaml (edit it, or add your own).
# State: a local file:// backend in .pulumi-state/ unless PULUMI_BACKEND_URL
# says otherwise. Secrets: local and dev hold none, so on that local backend
# they use the empty passphrase (local's committed encryptionsalt belongs to
# it) unless you set PULUMI_CONFIG_PASSPHRASE(_FILE); every other stack, and
# any other backend, requires yours.
DEPLOY_TARGETS := preflight stack up preview drift render down acceptance
.PHONY: $(DEPLOY_TARGETS)
STACK ?= local
RENDER_WORKDIR = $(CURDIR)/.pulumi-state/render/$(STACK)
# Only these targets see the deploy settings; `make test` is unaffected.
$(DEPLOY_TARGETS): PATH := $(subst $(TOOLS_BIN):,,$(PATH))
$(DEPLOY_TARGETS): export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
$(DEPLOY_TARGETS): export PULUMI_SKIP_UPDATE_CHECK := true
# The empty passphrase: only for local and dev on the default local backend.
ifeq ($(origin PULUMI_CONFIG_PASSPHRASE)$(origin PULUMI_CONFIG_PASSPHRASE_FILE)$(origin PULUMI_BACKEND_URL),undefinedundefinedundefined)
ifneq ($(filter local dev,$(STACK)),)
$(DEPLOY_TARGETS): export PULUMI_CONFIG_PASSPHRASE :=
endif
endif
# A render runs on a throwaway stack: its passphrase matters only for
# secrets already in the stack file.
ifeq ($(origin PULUMI_CONFIG_PASSPHRASE)$(origin PULUMI_CONFIG_PASSPHRASE_FILE),undefinedundefined)
render: export PULUMI_CONFIG_PASSPHRASE :=
endif

## preflight: before Pulumi runs, check that Pulumi.STACK.yaml exists and is
## valid, that its kube context exists and answers, and that the images it
## runs from `make images` are on the cluster's nodes (needs kubectl)
preflight:
	@go run ./cmd/preflight --stack $(STACK) --images-dir $(IMAGES_DIR)

## stack: select STACK, creating it on first use (its settings are all in
## Pulumi.STACK.yaml; nothing is written there)
stack:
	@if [[ -z "$${PULUMI_CONFIG_PASSPHRASE+set}$${PULUMI_CONFIG_PASSPHRASE_FILE+set}" && "$$PULUMI_BACKEND_URL" != https://* ]]; then \
	  echo "Stack $(STACK) needs PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): its secrets are encrypted with it." >&2; exit 1; fi
	@if [[ "$$PULUMI_BACKEND_URL" == file://* ]]; then mkdir -p "$${PULUMI_BACKEND_URL#file://}"; fi
	pulumi stack select --create $(STACK)

## up: check (preflight), then deploy STACK (local by default) to its cluster
up: preflight stack
	pulumi up --yes --stack $(STACK)

## preview: show what `up` would change
preview: stack
	pulumi preview --diff --stack $(STACK)

## drift: fail, showing the diff, when STACK's cluster moved away from the
## stack (e.g. an image rolled out by hand and not recorded in the stack file)
drift: stack
	pulumi preview --refresh --expect-no-changes --diff --stack $(STACK)

## render: write STACK's manifests to rendered/STACK without a cluster: a
## throwaway copy of the stack (its own state, the stack file copied) with
## tinjis:kubernetes.renderYamlToDirectory set, so neither the real stack nor
## your stack file changes
render:
	rm -rf "$(RENDER_WORKDIR)" "$(CURDIR)/rendered/$(STACK)"
	mkdir -p "$(RENDER_WORKDIR)/state"
	sed 's|^main:.*|main: $(CURDIR)/infra/|' Pulumi.yaml > "$(RENDER_WORKDIR)/Pulumi.yaml"
	cp Pulumi.$(STACK).yaml "$(RENDER_WORKDIR)/"
	cd "$(RENDER_WORKDIR)" && \
	  export PULUMI_BACKEND_URL="file://$(RENDER_WORKDIR)/state" && \
	  pulumi stack select --create $(STACK) && \
	  { pulumi config rm --path kubernetes.context 2>/dev/null; pulumi config rm --path kubernetes.kubeconfig 2>/dev/null; true; } && \
	  pulumi config set --path kubernetes.renderYamlToDirectory "$(CURDIR)/rendered/$(STACK)" && \
	  pulumi up --yes --skip-preview
	@echo "Manifests of stack $(STACK) are in rendered/$(STACK)/."

## down: destroy everything STACK deployed, then the stack's state (its
## Pulumi.STACK.yaml stays)
down: stack
	pulumi destroy --yes --stack $(STACK)
	pulumi stack rm --yes --preserve-config --stack $(STACK)

## acceptance: wait for STACK's Antaeus, pay its invoices, judge the success
## rate against the stack's tinjis:payments.successRate (0.5 if unset);
## URL=<Antaeus's URL> instead of the stack's antaeusUrl output (for a node
## port: http://localhost:30080 on the quick start's kind cluster);
## CONNECT_TO=<address> reaches an Ingress host that is not in DNS
acceptance:
	rate=$$(pulumi config get --stack $(STACK) --path payments.successRate 2>/dev/null || echo 0.5); \
	go run ./cmd/acceptance $(if $(URL),--url '$(URL)',--stack $(STACK)) --rate "$$rate" $(if $(CONNECT_TO),--connect-to '$(CONNECT_TO)')
