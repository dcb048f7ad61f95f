#!/usr/bin/env bash
# The write-path cost of the change log (issue 17), side by side: runs
# sqlstore's BenchmarkWritePath on this tree and on BASE (a commit from
# before the change log, default the parent of the commit that added it),
# in alternating rounds against the same databases, and prints each
# benchmark's median ns/op, the ratio of throughputs (with / without: the
# ratio of the medians) and the median of the per-round ratios (paired:
# each round against the one next to it, which cancels slow changes of
# the machine's load).
#
#   STORAGE_TEST_POSTGRES_DSN=... bash bench/changelog.sh [ROUNDS] [BENCHTIME] [FILTER]
#
# FILTER narrows the benchmarks (a -test.bench pattern below
# BenchmarkWritePath, e.g. 'sqlite-file/set$').
#
# Needs git; builds BASE in a temporary worktree.
set -euo pipefail
ROUNDS="${1:-3}"
BENCHTIME="${2:-1s}"
FILTER="${3:-}"
ROOT="$(git rev-parse --show-toplevel)"
BASE="${BASE:-$(git -C "$ROOT" log --format=%H -n 1 --grep='Revisions and a change log (issue 17, part 1)')^}"
TMP="$(mktemp -d)"
trap 'git -C "$ROOT" worktree remove --force "$TMP/base" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
git -C "$ROOT" worktree add --detach "$TMP/base" "$BASE" >/dev/null 2>&1
cp "$ROOT/sqlstore/changelog_bench_test.go" "$TMP/base/sqlstore/"
(cd "$TMP/base" && go test -c -o "$TMP/base.test" ./sqlstore)
(cd "$ROOT" && go test -c -o "$TMP/new.test" ./sqlstore)
run() { # tree binary round
	(cd "$1/sqlstore" && "$2" -test.run '^$' -test.bench "BenchmarkWritePath${FILTER:+/$FILTER}" -test.benchtime "$BENCHTIME") |
		awk -v tag="$3" '/^BenchmarkWritePath/ {print tag, $1, $3}'
}
for r in $(seq "$ROUNDS"); do
	run "$TMP/base" "$TMP/base.test" without
	run "$ROOT" "$TMP/new.test" with
done >"$TMP/results"
uptime
echo "rounds (ns/op):"
awk '{ r[$1 " " $2] = r[$1 " " $2] " " $3 } END { for (k in r) print "  " k ":" r[k] }' "$TMP/results" | sort
awk '
	{ n[$1 " " $2]++; v[$1 " " $2, n[$1 " " $2]] = $3; names[$2] = 1 }
	function median(a, k,   i, j, t) {
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	END {
		printf "%-44s %12s %12s %7s %7s\n", "benchmark (median ns/op)", "without", "with", "ratio", "paired"
		for (b in names) {
			k = n["with " b]
			delete w; delete c; delete p
			for (i = 1; i <= k; i++) { w[i] = v["without " b, i]; c[i] = v["with " b, i]; p[i] = w[i] / c[i] }
			mw = median(w, k); mc = median(c, k); mp = median(p, k)
			printf "%-44s %12.0f %12.0f %7.2f %7.2f\n", b, mw, mc, mw / mc, mp
		}
	}' "$TMP/results" | sort
