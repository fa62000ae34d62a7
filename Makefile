# den's build, test and measurement entry points. `make test` is hermetic (loopback fakes only);
# `make e2e` uses the registries configured on this machine; `make bench` prints ratios against
# the peer tools.
GO      ?= go
BIN     ?= bin/den
PREFIX  ?= $(HOME)/.local

.PHONY: build install test e2e bench lint clean

# Static (no cgo): no dynamic loader at start-up, which the prompt hook pays at every prompt.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/den

install:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(PREFIX)/bin/den ./cmd/den

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
