#!/usr/bin/env bash
# The one test command: installs what is missing, builds, runs every test, and ends with one line of its own:
#   N passed, N failed[, N skipped]
# Exit code 0 only if the build succeeded, a test results file was produced, and no test failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

CONFIGURATION="${CONFIGURATION:-Release}"
RESULTS_DIR="${RESULTS_DIR:-$ROOT/TestResults}"
TRX_NAME="results.trx"
TRX="$RESULTS_DIR/$TRX_NAME"
JS_DIR="$ROOT/Hub.Tests/js"
BROWSER_DIR="$ROOT/Hub.Tests/browser"
HANG_TIMEOUT="${HANG_TIMEOUT:-5m}"   # one test running longer than this aborts the run (blame names it)
RUN_TIMEOUT="${RUN_TIMEOUT:-20m}"    # the ceiling for the whole dotnet test step (SDK suites per transport, convergence per backplane, a quick benchmark)

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say() { printf '==> %s\n' "$*"; }

# Whether process group $1 still has a process that is not a zombie (zombies need no ending, and a container's
# pid 1 may never reap them).
group_has_live_processes() {
    if command -v ps >/dev/null 2>&1; then
        ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
    else
        kill -0 -- "-$1" 2>/dev/null
    fi
}

# The final line when the run broke before there were results to count: "0 passed, 1 failed (why)".
broken() {
    printf '0 passed, 1 failed (%s)\n' "$1"
    exit 1
}

# ---------------------------------------------------------------------------------------------------------------
# 1. What the tests need from the system. One line per tool: need_pkg <command> <debian package>...
#    Installed with apt-get only when the command is missing and we run as root; otherwise a clear error.
#    Later issues add here, e.g.: need_pkg redis-server redis-server; need_pkg chromium chromium; need_pkg nginx nginx
# ---------------------------------------------------------------------------------------------------------------
MISSING_PKGS=()
MISSING_CMDS=()

need_pkg() {
    local command="$1"
    shift
    if ! command -v "$command" >/dev/null 2>&1; then
        MISSING_CMDS+=("$command")
        MISSING_PKGS+=("$@")
    fi
}

need_pkg python3 python3   # reads the test results
need_pkg node nodejs npm   # the JS client tests (Hub.Tests/js)
need_pkg npm npm
# The PostgreSQL store tests start throw-away servers; Debian keeps initdb off PATH, in /usr/lib/postgresql/N/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || need_pkg pg_ctlcluster postgresql
need_pkg redis-server redis-server   # the Redis client and backplane tests start real servers
need_pkg nginx nginx                 # the load-balancer tests run docs/nginx.conf.example in front of two servers
need_pkg chromium chromium           # the browser tests (Hub.Tests/browser) drive the web client in headless Chromium

install_missing() {
    ((${#MISSING_CMDS[@]})) || return 0
    # Deduplicate the package list (two commands may come from one package).
    local -a pkgs
    mapfile -t pkgs < <(printf '%s\n' "${MISSING_PKGS[@]}" | sort -u)
    if [[ "$(id -u)" -ne 0 ]]; then
        broken "missing: ${MISSING_CMDS[*]}; not root, so not installing; run: sudo apt-get install -y ${pkgs[*]}"
    fi
    say "installing missing packages (${MISSING_CMDS[*]} not found): ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || broken "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${pkgs[@]}" || broken "apt-get install ${pkgs[*]} failed"
    local command
    for command in "${MISSING_CMDS[@]}"; do
        command -v "$command" >/dev/null 2>&1 || broken "$command is still missing after installing ${pkgs[*]}"
    done
}

install_missing
command -v dotnet >/dev/null 2>&1 || broken "dotnet (the .NET 10 SDK) is not installed"

# ---------------------------------------------------------------------------------------------------------------
# 2. npm packages for the JS client and browser tests, from their lock files (npm ci), when missing or older than
#    the lock file. (The web client's own @microsoft/signalr, in web/, is restored by Hub.Server's build.)
# ---------------------------------------------------------------------------------------------------------------
if [[ ! -d "$JS_DIR/node_modules" || "$JS_DIR/package-lock.json" -nt "$JS_DIR/node_modules" ]]; then
    say "npm ci in Hub.Tests/js"
    (cd "$JS_DIR" && npm ci --no-audit --no-fund) || broken "npm ci in Hub.Tests/js failed"
    touch "$JS_DIR/node_modules"
fi
if [[ ! -d "$BROWSER_DIR/node_modules" || "$BROWSER_DIR/package-lock.json" -nt "$BROWSER_DIR/node_modules" ]]; then
    say "npm ci in Hub.Tests/browser"
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund) || broken "npm ci in Hub.Tests/browser failed"
    touch "$BROWSER_DIR/node_modules"
fi

# ---------------------------------------------------------------------------------------------------------------
# 3. Build.
# ---------------------------------------------------------------------------------------------------------------
say "dotnet build CollabHub.sln -c $CONFIGURATION -warnaserror"
dotnet build CollabHub.sln -c "$CONFIGURATION" -warnaserror -nologo --disable-build-servers || broken "build failed"

# ---------------------------------------------------------------------------------------------------------------
# 4. Test. A test hung for HANG_TIMEOUT aborts the run (the blame collector names it); the step has a ceiling too.
#    Among the tests, BenchTests runs the benchmark once, `Hub.Bench all --quick`, so it cannot rot: it counts as one
#    test, failed when a scenario breaks or a system has no row (never on a timing). The bench runs `npm ci` in
#    Hub.Bench/socketio itself.
# ---------------------------------------------------------------------------------------------------------------
if [[ "$RESULTS_DIR" == "$ROOT/TestResults" ]]; then
    rm -rf "$RESULTS_DIR"
else
    rm -f "$TRX"
fi
mkdir -p "$RESULTS_DIR"
touch "$RESULTS_DIR/.run-started"   # blame sequence files newer than this belong to this run
say "dotnet test CollabHub.sln -c $CONFIGURATION (results: $TRX)"
# `timeout` runs dotnet test in a process group of its own: everything this run starts (test hosts, the servers
# the tests start) stays in it, so whatever a hung or crashed test host leaves behind can be ended afterwards.
test_status=0
timeout --kill-after=30s "$RUN_TIMEOUT" \
    dotnet test CollabHub.sln -c "$CONFIGURATION" --no-build --nologo \
        --logger "trx;LogFileName=$TRX_NAME" \
        --logger "console;verbosity=normal" \
        --results-directory "$RESULTS_DIR" \
        --blame-hang-timeout "$HANG_TIMEOUT" --blame-hang-dump-type none &
test_group=$!
trap 'kill -TERM -- "-$test_group" 2>/dev/null; broken "interrupted"' INT TERM
wait "$test_group" || test_status=$?
trap - INT TERM
if group_has_live_processes "$test_group"; then
    say "ending processes the test run left behind:"
    ps -eo pid=,stat=,pgid=,args= 2>/dev/null | awk -v g="$test_group" '$3 == g && $2 !~ /^Z/ { print "    " $0 }' | cut -c1-200 || true
    kill -KILL -- "-$test_group" 2>/dev/null || true
fi

if [[ ! -s "$TRX" ]]; then
    if [[ "$test_status" -eq 124 || "$test_status" -eq 137 ]]; then
        broken "dotnet test hit the $RUN_TIMEOUT time limit and produced no $TRX"
    fi
    broken "dotnet test exited with $test_status and produced no $TRX"
fi

# ---------------------------------------------------------------------------------------------------------------
# 5. Count. The failed tests with their messages, then the summary line, the last line this script prints.
#    The reader exits 0 (nothing failed) or 10 (something failed); any other code means it broke.
# ---------------------------------------------------------------------------------------------------------------
count_status=0
python3 - "$TRX" "$test_status" "$RESULTS_DIR" <<'PY' || count_status=$?
import glob
import os
import sys
import xml.etree.ElementTree as ET

trx, test_status, results_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
root = ET.parse(trx).getroot()

names = {}
for test in root.iterfind(".//t:TestDefinitions/t:UnitTest", ns):
    method = test.find("t:TestMethod", ns)
    if method is not None:
        names[test.get("id")] = f"{method.get('className')}.{method.get('name')}"

passed = failed = skipped = 0
failures = []
for result in root.iterfind(".//t:Results/t:UnitTestResult", ns):
    outcome = result.get("outcome", "")
    if outcome == "Passed":
        passed += 1
    elif outcome == "NotExecuted":  # xunit's Skip
        skipped += 1
    else:
        failed += 1
        message = result.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=ns).strip()
        failures.append((result.get("testName") or names.get(result.get("testId"), "?"), outcome, message))

# A run that broke (a crash, a hang, the time limit) leaves tests without a result. The blame collector's sequence
# files name the tests that started but never finished: each is a failure. Otherwise the broken run counts as one.
run_errors = [info.findtext("t:Text", default="", namespaces=ns).strip()
              for info in root.iterfind(".//t:ResultSummary/t:RunInfos/t:RunInfo", ns)
              if info.get("outcome") in ("Error", "Warning")]
unfinished = set()
started = os.path.getmtime(os.path.join(results_dir, ".run-started"))
for sequence in glob.glob(os.path.join(results_dir, "**", "Sequence_*.xml"), recursive=True):
    if os.path.getmtime(sequence) < started:
        continue
    try:
        tests = ET.parse(sequence).getroot().iterfind("Test")
    except ET.ParseError:
        continue
    for test in tests:
        name = test.get("DisplayName") or test.get("Name") or "?"
        if test.get("Completed") != "True" and name not in unfinished:  # the TRX folder holds a copy of each file
            unfinished.add(name)
            failed += 1
            failures.append((name, "did not finish",
                             "the test was still running when the run was aborted (it hung, or crashed the test host)\n"
                             + "\n".join(run_errors)))
if test_status != 0 and not failures:
    failed += 1
    failures.append(("(the test run)", "Error",
                     "\n".join([f"dotnet test exited with {test_status} although no test result failed; see its output above"] + run_errors)))
if passed + failed + skipped == 0:
    failed += 1
    failures.append(("(the test run)", "Error", "the TRX holds no test results"))

if failures:
    print(f"\n{len(failures)} failed:")
    for name, outcome, message in failures:
        print(f"  FAILED {name} [{outcome}]")
        lines = message.splitlines()
        for line in lines[:40]:
            print(f"      {line}")
        if len(lines) > 40:
            print(f"      ... ({len(lines) - 40} more lines in {trx})")
    print()

line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line, flush=True)
sys.exit(10 if failed else 0)
PY

case "$count_status" in
    0) exit 0 ;;
    10) exit 1 ;;
    *) broken "could not read the test results in $TRX (python3 exited with $count_status)" ;;
esac
