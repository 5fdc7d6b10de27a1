# zectre-auth. `make run` needs nothing but Go; `make test` also uses the
# PostgreSQL at 127.0.0.1:5432 (ZECTRE_AUTH_TEST_POSTGRES_URL to change it).

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO      ?= go
FUZZTIME ?= 20000x

.PHONY: run build test smoke bench loadtest lint fuzz clean

run: ## serve on :47080 with the embedded default (SQLite under ./data)
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/zectre-auth serve

build: ## build bin/zectre-auth
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/zectre-auth ./cmd/zectre-auth

test: ## the whole suite, with the race detector
	$(GO) test -race -count=1 ./...

BASE_URL ?= http://localhost:47080
smoke: ## the documented examples against a running instance at BASE_URL
	$(GO) run ./cmd/zectre-smoke -base-url "$(BASE_URL)"

bench: ## benchmarks (figures, never pass/fail)
	$(GO) test -run='^$$' -bench=. -benchmem ./...

LOADTEST_FLAGS ?=
loadtest: build ## wrk against forward-auth and proxy mode, with baselines in the same run (needs wrk; nginx optional)
	$(GO) run ./cmd/zectre-loadtest -binary bin/zectre-auth $(LOADTEST_FLAGS)

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin
