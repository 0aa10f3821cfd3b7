# The README's commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(TOOLS_BIN):$(PATH)
export GOFLAGS := -trimpath

.PHONY: test tools lint unit integration

## test: the whole suite; builds its own tools, needs no cluster
test: tools lint unit integration

## tools: build the pinned test tools into .tools/bin (skips what is built)
tools:
	./tools/build.sh

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

## unit: fast tests, no tools needed
unit:
	go test -count=1 ./...

## integration: real Pulumi engine, real provider, real control plane
integration:
	cd integration && go test -count=1 -timeout 45m ./...
