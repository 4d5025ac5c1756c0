#!/usr/bin/env bash
# Runs every check ctdefer has: formatting, vet (several build tags and
# platforms), staticcheck, the unit/race tests, the narrow-sequence build, the
# exhaustive interleaving explorer, the SPIN models, the mutant catalogue
# (mutants/), and one iteration of every benchmark. This is the README's test
# command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt wants these files reformatted:"; echo "$unformatted"; exit 1
fi
echo ok

step "go vet (default, explore, narrowseq tags; darwin, windows, 386)"
go vet ./...
go vet -tags ctdefer_explore ./...
go vet -tags ctdefer_narrowseq ./...
GOOS=darwin go vet ./...
GOOS=windows go build ./...
GOARCH=386 go vet ./...
echo ok

step "staticcheck (pinned in tools/go.mod)"
go tool -modfile=tools/go.mod staticcheck ./...
go tool -modfile=tools/go.mod staticcheck -tags ctdefer_explore ./...
echo ok

step "go test -race"
go test -race -count=1 ./...

step "go test, GOARCH=386 (32-bit alignment)"
# Some kernels (and sandboxes) cannot execute 32-bit binaries: then compile
# every test binary for 386 instead, which still checks the build, and say so.
probe=$(mktemp -d)
printf 'package main\nfunc main() {}\n' >"$probe/main.go"
if (cd "$probe" && GOARCH=386 go build -o probe main.go 2>/dev/null && ./probe) 2>/dev/null; then
	GOARCH=386 go test -count=1 ./...
else
	echo "this host cannot run 386 binaries: building the 386 test binaries only"
	for p in $(go list ./...); do GOARCH=386 go test -c -o /dev/null "$p"; done
	echo ok
fi
rm -rf "$probe"

step "go test -tags ctdefer_narrowseq (2-bit sequence, wraps every 4 transitions)"
go test -count=1 -tags ctdefer_narrowseq ./ctseq/...

if [ -d internal/explore ]; then
	step "exhaustive interleaving explorer (real code + mutants)"
	# -timeout: the suite runs for about 8 minutes on a 2-core machine.
	go test -count=1 -timeout 30m -tags ctdefer_explore -v ./internal/explore/ | grep -v -E '^(=== (RUN|PAUSE|CONT)|\s*$)'
	# Scenarios that reach a package's internals live in that package's
	# own tests (export_test.go), under the same tag.
	go test -count=1 -tags ctdefer_explore -run Explore -v ./grace/ | grep -v -E '^(=== (RUN|PAUSE|CONT)|\s*$)'
	step "explorer, narrow sequence"
	go test -count=1 -tags ctdefer_explore,ctdefer_narrowseq -run 'Ctseq' -v ./internal/explore/ | grep -v -E '^(=== (RUN|PAUSE|CONT)|\s*$)'
fi

step "torture: 1,000,000 items over pinned workers (rcutorture style)"
go test -count=1 -run '^TestTorture$' -v -torture.items=1000000 . | grep -E '^\s+torture_test.go|^(ok|FAIL|---)'

if [ -f models/check.sh ]; then
	step "SPIN models (real designs and mutants)"
	bash models/check.sh
fi

step "mutation testing (catalogue in mutants/)"
# Some mutants are caught by fault-injection tests that exist only under the
# explorer's tag (mutant_inject_test.go): they must pass on the real code.
go test -count=1 -tags ctdefer_explore -run '^TestMutantInject' .
go run ./internal/cmd/mutate

step "benchmarks, one iteration each (smoke)"
go test -count=1 -run '^$' -bench . -benchtime=1x ./...

printf '\nall checks passed\n'
