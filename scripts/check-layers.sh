#!/usr/bin/env bash
# The layer check behind `make check-layers` (part of `make test`): holds the
# build to the dependency table at the top of the Makefile, which exports it
# (LAYERS, LINK_ORDER, DEPS_x, EXT_x, HDRS_x). Four checks:
#
#   1. the table itself: no layer lists a dependency that is not a layer,
#      every list is transitively closed, and LINK_ORDER puts each layer
#      before what it uses (so the graph has no cycle);
#   2. symbols: every undefined symbol of build/lib/libX.a is defined in
#      libX.a itself, in the archive of a layer X may use, in a library X
#      may call (EXT_x, by pkg-config), or in the C runtime;
#   3. the linker: each archive, whole, links into a program with exactly
#      its allowed archives and the libraries of its closure: nothing left
#      undefined;
#   4. includes: a file of src/X/ includes only include/ headers owned by
#      X or a layer X may use (and its own folder's private headers);
#      docs/architecture.md carries the same table (between the layers
#      markers).
#
# A failure names the object, the symbol or header, and the edge it would
# need. Run by hand: make check-layers.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CC=${CC:-cc}
: "${LAYERS:?run through make check-layers}"

fail=0
err() { echo "check-layers: $*" >&2; fail=1; }
deps_of() { local v="DEPS_$1"; echo "${!v:-}"; }
ext_of() { local v="EXT_$1"; echo "${!v:-}"; }
hdrs_of() { local v="HDRS_$1"; echo "${!v:-}"; }
is_layer() { local l; for l in $LAYERS; do [ "$l" = "$1" ] && return 0; done; return 1; }
has() { local x; for x in $2; do [ "$x" = "$1" ] && return 0; done; return 1; }
pos() { local i=0 l; for l in $LINK_ORDER; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i+1)); done; echo -1; }

# ---- 1. the table
for l in $LAYERS; do
    [ "$(pos "$l")" -ge 0 ] || err "layer $l is missing from LINK_ORDER"
    for d in $(deps_of "$l"); do
        is_layer "$d" || { err "DEPS_$l names $d, which is not a layer"; continue; }
        [ "$d" != "$l" ] || err "DEPS_$l names $l itself"
        [ "$(pos "$d")" -gt "$(pos "$l")" ] || err "LINK_ORDER puts $d before $l, which uses it (a cycle?)"
        for dd in $(deps_of "$d"); do
            has "$dd" "$(deps_of "$l")" || err "DEPS_$l is not closed: $l uses $d, which uses $dd"
        done
    done
done
[ $fail = 0 ] || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- 2. symbols
archive() { echo "$BUILD/lib/lib$1.a"; }
for l in $LAYERS; do
    a=$(archive "$l")
    [ -f "$a" ] || { err "$a is missing (make all first)"; continue; }
    nm --defined-only -g "$a" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/def.$l"
done
[ $fail = 0 ] || exit 1

# what the C runtime and the compiler's own libraries define
runtime_syms() {
    local f
    for lib in libc.so.6 libm.so.6 libpthread.so.0 libgcc_s.so.1; do
        f=$("$CC" -print-file-name="$lib")
        [ -f "$f" ] && nm -D --defined-only "$f" 2>/dev/null | awk '{ sub(/@.*/, "", $NF); print $NF }'
    done
}
runtime_syms | sort -u > "$tmp/def.runtime"

# the dynamic symbols of a pkg-config library
ext_syms() {
    local flag f
    for flag in $(pkg-config --libs "$1" 2>/dev/null); do
        case "$flag" in -l*) ;; *) continue ;; esac
        f=$("$CC" -print-file-name="lib${flag#-l}.so")
        [ -e "$f" ] || continue
        f=$(readlink -f "$f")
        nm -D --defined-only "$f" 2>/dev/null | awk '{ sub(/@.*/, "", $NF); print $NF }'
    done
}
for l in $LAYERS; do
    for e in $(ext_of "$l"); do
        [ -f "$tmp/ext.$e" ] || ext_syms "$e" | sort -u > "$tmp/ext.$e"
    done
done

for l in $LAYERS; do
    a=$(archive "$l")
    # what l may reach: itself, its layers, its libraries, the C runtime
    {
        cat "$tmp/def.$l" "$tmp/def.runtime"
        for d in $(deps_of "$l"); do cat "$tmp/def.$d"; done
        for e in $(ext_of "$l"); do cat "$tmp/ext.$e"; done
    } > "$tmp/allowed.$l"
    # "object symbol" for every undefined reference outside that set
    nm -A -u "$a" 2>/dev/null |
        awk '{ o = $1; sub(/:$/, "", o); sub(/.*:/, "", o); print o, $NF }' |
        grep -Ev ' (__asan_|__ubsan_|__tsan_|__sanitizer_|__lsan_|__msan_|__sancov_|__gcov_|_GLOBAL_OFFSET_TABLE_$|__stack_chk_fail$|__gmon_start__$|_ITM_|__cxa_finalize$|__dso_handle$)' |
        awk 'NR == FNR { ok[$1] = 1; next } !($2 in ok)' "$tmp/allowed.$l" - | sort -u > "$tmp/bad.$l" || true
    while read -r obj sym; do
        # name the owner, to say which edge this would need
        owner=
        for o in $LAYERS; do grep -qxF "$sym" "$tmp/def.$o" && { owner="layer $o"; break; }; done
        if [ -z "$owner" ]; then
            for f in "$tmp"/ext.*; do [ -f "$f" ] && grep -qxF "$sym" "$f" && { owner="library ${f##*/ext.}"; break; }; done
        fi
        err "src/$l: $obj uses $sym (${owner:-defined nowhere allowed}); $l may use: $(echo $(deps_of "$l") $(ext_of "$l"))"
    done < "$tmp/bad.$l"
done

# ---- 3. the linker
echo 'int main(void) { return 0; }' > "$tmp/main.c"
"$CC" -c -o "$tmp/main.o" "$tmp/main.c"
for l in $LAYERS; do
    archives=
    for o in $LINK_ORDER; do has "$o" "$(deps_of "$l")" && archives="$archives $(archive "$o")"; done
    exts=
    for o in $l $(deps_of "$l"); do exts="$exts $(ext_of "$o")"; done
    libs=$( [ -n "${exts// /}" ] && pkg-config --libs $exts || true)
    entry="$tmp/main.o"
    grep -qxF main "$tmp/def.$l" && entry=     # the program's own main (app)
    # shellcheck disable=SC2086
    if ! "$CC" $LDFLAGS -o "$tmp/link.$l" $entry -Wl,--whole-archive "$(archive "$l")" \
            -Wl,--no-whole-archive $archives $libs -lpthread -lm 2> "$tmp/link.$l.err"; then
        err "lib$l.a, whole, does not link with only what it may use:"
        grep -E 'undefined reference|multiple definition' "$tmp/link.$l.err" | sed 's/^/    /' | head -20 >&2
    fi
done

# ---- 4. includes, and the table in docs/architecture.md
declare -A header_owner
for l in $LAYERS; do for h in $(hdrs_of "$l"); do header_owner[$h]=$l; done; done
owner_of() { echo "${header_owner[$1]:-}"; }
for l in $LAYERS; do
    [ -d "src/$l" ] || continue
    for f in src/"$l"/*.[ch]; do
        [ -f "$f" ] || continue
        while read -r h; do
            case "$h" in */*) err "$f includes \"$h\": a header of another folder (give it a public header in include/)"; continue ;; esac
            [ -f "src/$l/$h" ] && continue            # the folder's own private header
            o=$(owner_of "$h")
            if [ -z "$o" ]; then
                [ -f "include/$h" ] && err "include/$h belongs to no layer (add it to a HDRS_ list in the Makefile)"
                [ -f "include/$h" ] || err "$f includes \"$h\", which is not a header of include/ or src/$l/"
                continue
            fi
            [ "$o" = "$l" ] && continue
            has "$o" "$(deps_of "$l")" || err "$f includes $h of layer $o; $l may use: $(deps_of "$l")"
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done
done
for h in include/*.h; do
    h=${h#include/}
    o=$(owner_of "$h")
    [ -n "$o" ] || { err "include/$h belongs to no layer (add it to a HDRS_ list in the Makefile)"; continue; }
    while read -r inc; do
        io=$(owner_of "$inc")
        [ -z "$io" ] || [ "$io" = "$o" ] || has "$io" "$(deps_of "$o")" ||
            err "include/$h (layer $o) includes $inc of layer $io; $o may use: $(deps_of "$o")"
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "include/$h")
done

table() {
    echo "| layer | folder | may use | calls itself |"
    echo "| --- | --- | --- | --- |"
    local l dir
    for l in $LAYERS; do
        dir="src/$l/"; [ "$l" = embedded ] && dir="(generated)"
        deps=$(deps_of "$l"); exts=$(ext_of "$l")
        echo "| $l | $dir | ${deps:-—} | ${exts:-—} |"
    done
}
table > "$tmp/table"
doc=docs/architecture.md
sed -n '/<!-- layers:begin -->/,/<!-- layers:end -->/p' "$doc" | sed '1d;$d' > "$tmp/doc"
if ! diff -q "$tmp/table" "$tmp/doc" > /dev/null; then
    err "the layer table in $doc is not the Makefile's; put this between its layers markers:"
    cat "$tmp/table" >&2
fi

if [ $fail = 0 ]; then
    echo "check-layers: $(echo $LAYERS | wc -w) layers, their symbols, links, includes and the documented table agree with the Makefile"
fi
exit $fail
