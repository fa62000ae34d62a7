# den's build, test and measurement entry points. `make test` is hermetic (loopback fakes only);
# `make e2e` uses the registries configured on this machine; `make bench` prints ratios against
# the peer tools.
GO      ?= go
BINDIR  ?= bin
PREFIX  ?= $(HOME)/.local

.PHONY: build install test e2e bench lint clean

# den is two programs that stay together in one directory: den, a small launcher that answers the
# prompt hook's no-change step itself, and den-core, the full program it hands everything else to
# (see cmd/den/front). Static (no cgo): no dynamic loader at start-up, which the prompt hook pays
# at every prompt.
# Both get one build stamp (envs/activate.Build): a project's fast path trusts only what the
# same build planned.
BUILD_STAMP := $(shell date +%s%N)
LDFLAGS := -X github.com/den-sh/den/envs/activate.buildStamp=$(BUILD_STAMP)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINDIR)/den-core ./cmd/den
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINDIR)/den ./cmd/den/front

install:
	$(MAKE) build BINDIR=$(PREFIX)/bin

test:
	$(GO) test ./...

e2e: build
	DEN_E2E=1 $(GO) test -count=1 -timeout 40m -run 'TestE2E' ./cmd/den

bench: build
	DEN_BENCH=1 $(GO) test -count=1 -timeout 60m -run 'TestBench' -v ./cmd/den

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
