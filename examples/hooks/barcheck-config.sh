# Shared by the git pre-commit hook and the b4 per-patch check: where the policy is, what to
# compare it with, and which checks to run.  Each setting is an environment variable, or else
# a git config key:
#   BARCHECK_POLICY  barcheck.policy   the patch's policy file (required), relative to the top of the tree
#   BARCHECK_BASE    barcheck.base     the policy it is compared with (default linux-4.8); "none"
#                                      runs `barcheck prove` on the policy alone instead of `barcheck diff`
#   BARCHECK_ARGS    barcheck.args     more options, e.g. "--page-size 4K,64K --mode all --cache .git/barcheck"
#   BARCHECK_PATHS   barcheck.paths    the paths whose changes trigger a check (default: drivers/vfio drivers/pci)
#   BARCHECK         barcheck.command  the barcheck command (default: barcheck)

set -f  # the path prefixes below are words, never globs

barcheck_setting() {
    eval "value=\${$1:-}"
    if [ -z "$value" ]; then
        value=$(git config --get "$2" 2>/dev/null || true)
    fi
    printf '%s' "${value:-$3}"
}

POLICY=$(barcheck_setting BARCHECK_POLICY barcheck.policy "")
BASE=$(barcheck_setting BARCHECK_BASE barcheck.base linux-4.8)
ARGS=$(barcheck_setting BARCHECK_ARGS barcheck.args "")
PATHS=$(barcheck_setting BARCHECK_PATHS barcheck.paths "drivers/vfio drivers/pci")
BARCHECK_COMMAND=$(barcheck_setting BARCHECK barcheck.command barcheck)

# Print the paths (one a line, on stdin) that BARCHECK_PATHS covers.
barcheck_relevant() {
    while IFS= read -r path; do
        for prefix in $PATHS; do
            case "$path" in
                "$prefix"|"$prefix"/*) printf '%s\n' "$path" ;;
            esac
        done
    done
}

# Run barcheck diff (or prove when BASE is "none") with the given output options; its exit code is
# barcheck's: 0 nothing regressed, 1 a proved property is refuted, 2 bad policy or options, 3 unknown.
barcheck_run() {
    if [ "$BASE" = none ]; then
        # shellcheck disable=SC2086
        $BARCHECK_COMMAND prove --policy "$POLICY" $ARGS "$@"
    else
        # shellcheck disable=SC2086
        $BARCHECK_COMMAND diff --policy "$BASE" --policy "$POLICY" $ARGS "$@"
    fi
}
