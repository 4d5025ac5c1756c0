#!/usr/bin/env bash
# Runs every check ctdefer has: formatting, vet (several build tags and
# platforms), cross-builds, staticcheck, the unit/race tests, the
# narrow-sequence build, the exhaustive interleaving explorer, the SPIN
# models, the mutant catalogue (verify/mutants/), and one iteration of every
# benchmark. This is the README's full test command and what CI runs
# (.ci/run installs the prerequisites first). It takes 10 minutes or more;
# the quick check, which needs nothing but Go, is `go test ./...`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# Prerequisites first, so that a missing tool is reported at once rather
# than after the long steps that do not need it.
step "prerequisites (Go 1.24 or later, spin, gcc, liburcu-dev)"
min_go_minor=24
if ! command -v go >/dev/null 2>&1; then
	echo "missing: go. Install Go 1.24 or later (https://go.dev/doc/install) and put it on PATH."
	exit 1
fi
go_version=$(go env GOVERSION)
go_minor=$(printf '%s\n' "$go_version" | sed -nE 's/^go1\.([0-9]+).*/\1/p')
case "$go_version" in devel*) go_minor=$min_go_minor ;; esac # a development toolchain
if [ -z "$go_minor" ] || [ "$go_minor" -lt "$min_go_minor" ]; then
	echo "missing: Go 1.24 or later (found ${go_version}). Install it from https://go.dev/doc/install."
	exit 1
fi
missing=()
for tool in spin gcc; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
printf '#include <urcu-qsbr.h>\n' | gcc -E -x c - >/dev/null 2>&1 || missing+=(liburcu-dev)
if [ ${#missing[@]} -gt 0 ]; then
	echo "missing: ${missing[*]} (spin and gcc for the SPIN models, liburcu-dev for bench/liburcu). Install: sudo apt-get install ${missing[*]} (Debian, Ubuntu; .ci/run does it). The quick check 'go test ./...' needs none of them."
	exit 1
fi
echo "ok: ${go_version}, $(command -v spin), $(command -v gcc)"

# The library's checks run in module mode: the dependency versions a user
# of the module gets, not the ones the development workspace (go.work)
# selects for the library and cmd/ctdefer together. The cmd/ctdefer step
# uses the workspace.
workspace="$PWD/go.work"
export GOWORK=off

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt wants these files reformatted:"; echo "$unformatted"; exit 1
fi
echo ok

step "go vet (default, explore, narrowseq tags; darwin, 386) and cross-builds (windows, js/wasm, wasip1)"
go vet ./...
go vet -tags ctdefer_explore ./...
go vet -tags ctdefer_narrowseq ./...
GOOS=darwin go vet ./...
GOARCH=386 go vet ./...
GOOS=windows go build ./...
GOOS=js GOARCH=wasm go build ./...
GOOS=wasip1 GOARCH=wasm go build ./...
echo ok

step "the public face (internal/cmd/surface: exported identifiers, Domain's methods, sentinel errors)"
# Printed and enforced: the run fails above a target of the redesign (at
# most 180 exported identifiers, 70 in the root, 14 Domain methods, 15
# sentinel errors).
go run ./internal/cmd/surface -check

step "staticcheck (pinned in tools/go.mod)"
go tool -modfile=tools/go.mod staticcheck ./...
go tool -modfile=tools/go.mod staticcheck -tags ctdefer_explore ./...
echo ok

step "go test -race"
go test -race -count=1 ./...

step "cmd/ctdefer: a module of its own (doctor, bench); tidy, vet, staticcheck, tests, smoke runs"
(
	cd cmd/ctdefer
	# Its go.mod requires github.com/ctdefer/ctdefer v0.0.0, which is not
	# published; the workspace supplies it. go mod tidy ignores workspaces,
	# so tidy a copy of go.mod that points the requirement at this clone.
	tidy=$(mktemp -d)
	cp go.mod go.sum "$tidy/"
	go mod edit -modfile="$tidy/go.mod" -replace github.com/ctdefer/ctdefer=../..
	go mod tidy -diff -modfile="$tidy/go.mod"
	rm -rf "$tidy"
	export GOWORK="$workspace"
	go vet ./...
	GOOS=darwin go vet ./...
	GOOS=windows go build ./...
	../../scripts/staticcheck ./...
	go test -race -count=1 ./...
	out=$(mktemp -d)
	go build -o "$out/ctdefer" .
	# doctor exits 1 when a check fails (a noisy host): still a valid report.
	"$out/ctdefer" doctor -json -noise 200ms -runtime 200ms >"$out/doctor.json" || [ $? -eq 1 ]
	grep -q '"go-runtime\|"go-preemption' "$out/doctor.json" || { echo "doctor wrote no Go runtime check"; exit 1; }
	rm "$out/ctdefer" "$out/doctor.json"
	go run . bench -quick -out "$out"
	want=(report.md results.json scale.svg)
	grep -q '^Skipped: ' "$out/report.md" || want+=(latency-cdf.svg throughput.svg gaps.svg)
	for f in "${want[@]}"; do
		[ -s "$out/$f" ] || { echo "bench -quick did not write $f"; exit 1; }
	done
	rm -rf "$out"
)

step "the README's tour (examples/tour)"
go run ./examples/tour

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
go test -count=1 -tags ctdefer_narrowseq -run Wrap .

if [ -d internal/explore ]; then
	step "exhaustive interleaving explorer (real code; its mutants run in the catalogue)"
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

if [ -f verify/models/check.sh ]; then
	step "SPIN models (real designs and mutants)"
	bash verify/models/check.sh
fi

step "mutation testing (catalogue in verify/mutants/)"
# Some mutants are caught by fault-injection tests that exist only under the
# explorer's tag (mailbox_internal_test.go): they must pass on the real code.
go test -count=1 -tags ctdefer_explore -run '^TestInject' .
go run ./internal/cmd/mutate

step "benchmarks, one iteration each (smoke)"
go test -count=1 -run '^$' -bench . -benchtime=1x ./...

step "liburcu-qsbr and liburcu-memb beside the QSBR and memb flavours (bench/liburcu, -tags liburcu, cgo), one iteration each (smoke)"
go vet -tags liburcu ./bench/liburcu/...
go tool -modfile=tools/go.mod staticcheck -tags liburcu ./bench/liburcu/...
go test -count=1 -tags liburcu -run '^$' -bench Liburcu -benchtime=1x ./bench/liburcu/
# liburcu's own workload on both sides, for both flavours (qsbr and memb;
# smoke: short runs, about 5 s; it fails if a reader ever sees a poisoned
# object). docs/measurements.md quotes full runs.
if [ "$(nproc)" -ge 2 ]; then
	go run -tags liburcu ./bench/liburcu/workload -d 200ms -rounds 1
else
	echo "one CPU allowed: the workload's placements need two (not run)"
fi
go test -count=1 -run '^$' -bench QSBR -benchtime=1x ./grace/

printf '\nall checks passed\n'
