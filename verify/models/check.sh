#!/usr/bin/env bash
# check.sh: verify the Promela models in this directory with SPIN, and check
# that every mutant (a deliberately broken variant) is caught.
#
# Prints one line per run; exits 0 only if every real model has 0 errors with
# a complete search and every mutant is caught by the property it breaks.
# Exit 1: a check failed. Exit 2: spin or gcc is missing.
#
# All SPIN output (pan.c, pan, trails) goes to a temporary directory that is
# removed at exit. Set CHECK_KEEP=/some/dir to keep each mutant's model and
# trail there (replay: cd /some/dir/<run> && spin -t -p <defines> <model>.pml).
set -euo pipefail

if ! command -v spin >/dev/null 2>&1; then
	echo "spin not found: install it with 'apt-get install spin' (Debian)"
	exit 2
fi
if ! command -v gcc >/dev/null 2>&1; then
	echo "gcc not found: SPIN needs a C compiler to build its verifier"
	exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctdefer-models.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
runs=0

# run LABEL MODEL EXPECT DEFINES...
#   EXPECT is "clean" (0 errors, complete search) or an extended regex the
#   name of the violated assertion must match (the mutant must be caught by
#   that property, not by anything else).
run() {
	local label=$1 model=$2 expect=$3
	shift 3
	runs=$((runs + 1))
	local dir="$tmp/run$runs"
	mkdir "$dir"
	cp "$here/$model" "$dir/"

	if ! (cd "$dir" && spin -a "$@" "$model" >spin.log 2>&1); then
		echo "$label: FAILED: spin -a could not translate the model:"
		sed 's/^/    /' "$dir/spin.log"
		failures=$((failures + 1))
		return
	fi
	if ! (cd "$dir" && gcc -O2 -DSAFETY -o pan pan.c >gcc.log 2>&1); then
		echo "$label: FAILED: gcc could not build pan:"
		tail -20 "$dir/gcc.log" | sed 's/^/    /'
		failures=$((failures + 1))
		return
	fi
	local rc=0
	(cd "$dir" && ./pan -m100000 >pan.out 2>&1) || rc=$?

	local errors states depth
	errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/pan.out" | tail -1)
	states=$(sed -n 's/^ *\([0-9][0-9.e+]*\) states, stored.*/\1/p' "$dir/pan.out" | tail -1)
	depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\).*/\1/p' "$dir/pan.out" | tail -1)
	if [[ -z "$errors" || -z "$states" ]]; then
		echo "$label: FAILED: pan did not run to completion (exit $rc):"
		tail -20 "$dir/pan.out" | sed 's/^/    /'
		failures=$((failures + 1))
		return
	fi
	# pan stops at the first error and then says "Search not completed";
	# that matters only for a run that found nothing.
	local incomplete=""
	if [[ "$errors" == 0 ]] && grep -qE 'max search depth too small|Search not completed|out of memory' "$dir/pan.out"; then
		incomplete="search incomplete"
	fi

	if [[ "$expect" == clean ]]; then
		if [[ "$errors" == 0 && -z "$incomplete" ]]; then
			echo "$label: errors: 0 (states: $states, depth: $depth)"
		else
			echo "$label: FAILED: errors: $errors${incomplete:+, $incomplete} (states: $states)"
			grep -E 'violated|invalid end state|acceptance cycle|error' "$dir/pan.out" | head -5 | sed 's/^/    /'
			failures=$((failures + 1))
		fi
		return
	fi

	# A mutant: it must be caught, by an assertion matching $expect.
	if [[ "$errors" == 0 ]]; then
		echo "$label: FAILED: NOT caught (errors: 0, states: $states${incomplete:+, $incomplete})"
		failures=$((failures + 1))
		return
	fi
	local what replay steps where
	what=$(grep -m1 -E '^pan:[0-9]+: ' "$dir/pan.out" | sed -E 's/^pan:[0-9]+: //; s/ \(at depth [0-9]+\)//' || true)
	replay=$(cd "$dir" && spin -t "$@" "$model" 2>&1 || true)
	steps=$(sed -n 's/.*trail ends after \([0-9][0-9]*\) steps.*/\1/p' <<<"$replay" | tail -1)
	where=$(sed -n 's/^spin: \([^,]*\), Error: .*/\1/p' <<<"$replay" | head -1)
	if [[ -n "${CHECK_KEEP:-}" ]]; then
		local keep
		keep="$CHECK_KEEP/$(tr -c 'A-Za-z0-9_-' _ <<<"$label")"
		mkdir -p "$keep"
		cp "$dir/$model" "$dir/$model.trail" "$keep/" 2>/dev/null || true
	fi
	local name
	name=$(sed -E 's/^assertion violated //' <<<"$what")
	if grep -qE "$expect" <<<"$name"; then
		echo "$label: caught (errors: $errors, states: $states), trail: ${steps:-?} steps, $what${where:+ ($where)}"
	else
		echo "$label: FAILED: caught by '$what', expected a violation of /$expect/ (trail ${steps:-?} steps${where:+, $where})"
		failures=$((failures + 1))
	fi
}

# The deferral word (ctseq/word.go).
run "ctseq"                                   ctseq.pml   clean
run "ctseq mutant two-atomic"                 ctseq.pml   '^p[1-4]_'         -DMUTANT_TWO_ATOMIC
run "ctseq mutant two-atomic (P1/P2 only)"    ctseq.pml   '^p[12]_'          -DMUTANT_TWO_ATOMIC -DNO_P3
run "ctseq mutant ignore-state"               ctseq.pml   '^p[1-4]_'         -DMUTANT_IGNORE_STATE
run "ctseq mutant ignore-state (P1/P2 only)"  ctseq.pml   '^p[12]_'          -DMUTANT_IGNORE_STATE -DNO_P3
run "ctseq mutant no-seq"                     ctseq.pml   '^p4_'             -DMUTANT_NO_SEQ
run "ctseq mutant exit-keeps"                 ctseq.pml   '^p[12]_'          -DMUTANT_EXIT_KEEPS

# Lazy TLB (Rik van Riel's 2016 "make lazy TLB mode even lazier" patch).
run "lazytlb"                                 lazytlb.pml clean
run "lazytlb (3 rounds x 3 shootdowns)"       lazytlb.pml clean              -DROUNDS=3 -DFLUSHES=3
run "lazytlb mutant plain-store"              lazytlb.pml '^p5_'             -DMUTANT_PLAIN_STORE
run "lazytlb mutant plain-store (P5 use only)" lazytlb.pml '^p5_use_fresh$'  -DMUTANT_PLAIN_STORE -DNO_P5_KEPT

if [[ $failures -ne 0 ]]; then
	echo "FAILURE: $failures of $runs runs did not give the expected result"
	exit 1
fi
echo "SUCCESS: $runs runs, real models clean, every mutant caught"
