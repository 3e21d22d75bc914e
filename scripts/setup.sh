#!/usr/bin/env bash
# Makes sure Dawn finds the WebGPU adapters the project runs and tests on. Idempotent: installs
# only what is missing.
#  1. An adapter for the default run. On a GPU-less Debian/Ubuntu machine that means Mesa's
#     lavapipe (Vulkan on the CPU) >= 24 and the Vulkan loader. Debian 12's own Mesa 22 is
#     rejected by Dawn ("shaderUniform*ArrayDynamicIndexing required"), so on bookworm Mesa comes
#     from bookworm-backports, added from the mirror the machine already uses.
#  2. SwiftShader, the second adapter the suite is tested on (WEBGPU_ADAPTER=swiftshader) and the
#     one headless Chromium runs WebGPU on: Debian's `chromium` package ships its Vulkan driver.
set -euo pipefail

# The apt source entry for CODENAME-backports, on the mirror of the first enabled `deb` source of
# CODENAME found in FILES (one-line .list or deb822 .sources), in that source's own format and with
# its options (signed-by, arch, ...). Prints nothing when no source of CODENAME is found.
backports_source() {
  local codename=$1 f out; shift
  for f in "$@"; do
    [ -r "$f" ] || continue
    case "$f" in
      *.sources) out=$(awk -v want="$codename" '
          function flush() {
            if (n && deb && suite && enabled) {
              for (i = 1; i <= n; i++) {
                if (lines[i] ~ /^[Ss]uites:/) print "Suites: " want "-backports"
                else if (lines[i] ~ /^[Cc]omponents:/) print "Components: main"
                else print lines[i]
              }
              found = 1; exit
            }
            n = 0; deb = 0; suite = 0; enabled = 1
          }
          BEGIN { enabled = 1 }
          /^[ \t]*#/ { next }
          /^[ \t]*$/ { flush(); next }
          {
            lines[++n] = $0
            key = tolower($1)
            if (key == "types:") for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1
            if (key == "suites:") for (i = 2; i <= NF; i++) if ($i == want) suite = 1
            if (key == "enabled:" && tolower($2) == "no") enabled = 0
          }
          END { if (!found) flush() }' "$f") ;;
      *) out=$(awk -v want="$codename" '
          /^[ \t]*deb[ \t]/ {
            line = $0; sub(/^[ \t]*deb[ \t]+/, "", line)
            opts = ""
            if (line ~ /^\[/) { opts = substr(line, 1, index(line, "]")); line = substr(line, index(line, "]") + 1); sub(/^[ \t]+/, "", line) }
            split(line, w, /[ \t]+/)
            if (w[2] == want) { print "deb " (opts != "" ? opts " " : "") w[1] " " want "-backports main"; exit }
          }' "$f") ;;
    esac
    if [ -n "$out" ]; then printf '%s\n' "$out"; return 0; fi
  done
}

# The machine's apt source files, in the order apt reads them.
apt_source_files() {
  local f
  [ -e /etc/apt/sources.list ] && echo /etc/apt/sources.list
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do [ -e "$f" ] && echo "$f"; done
  return 0
}

SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json

main() {
  cd "$(dirname "$0")/.."
  local probe_default="node scripts/probe-adapter.mjs"
  if $probe_default >/dev/null 2>&1 && [ -e "$SWIFTSHADER_ICD" ]; then exit 0; fi
  if ! command -v apt-get >/dev/null; then
    $probe_default >/dev/null 2>&1 && exit 0
    echo "setup: this script knows apt-get only. Install a Vulkan driver (GPU vendor driver, or Mesa >= 24 'lavapipe') and the Vulkan loader, then retry." >&2
    exit 1
  fi
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  . /etc/os-release
  local updated=""
  apt_install() { # [apt-get install options...] packages
    [ -n "$updated" ] || { $sudo apt-get update -qq; updated=1; }
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  }

  if ! $probe_default >/dev/null 2>&1; then
    echo "setup: no WebGPU adapter found; installing Mesa lavapipe and the Vulkan loader"
    if [ "${VERSION_CODENAME:-}" = bookworm ]; then
      if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        local entry; mapfile -t files < <(apt_source_files)
        entry=$(backports_source bookworm "${files[@]}")
        if [ -z "$entry" ]; then
          echo "setup: no apt source for bookworm found; adding bookworm-backports from deb.debian.org"
          entry="deb http://deb.debian.org/debian bookworm-backports main"
        fi
        local list=/etc/apt/sources.list.d/bookworm-backports.list
        case "$entry" in Types:*) list=/etc/apt/sources.list.d/bookworm-backports.sources ;; esac
        printf '%s\n' "$entry" | $sudo tee "$list" >/dev/null
      fi
      apt_install -t bookworm-backports mesa-vulkan-drivers libvulkan1
    else
      apt_install mesa-vulkan-drivers libvulkan1
    fi
    if ! $probe_default; then
      echo "setup: still no WebGPU adapter after installing Mesa. Check 'vulkaninfo --summary' (package vulkan-tools); Dawn needs Mesa >= 24." >&2
      exit 1
    fi
  fi

  if [ ! -e "$SWIFTSHADER_ICD" ]; then
    if [ "${ID:-}" = debian ]; then
      # on bookworm the current Chromium comes from the security suite, which the default sources include
      echo "setup: installing Debian's chromium (its SwiftShader Vulkan driver is the second adapter the tests run on)"
      apt_install chromium
    else
      echo "setup: SwiftShader comes from Debian's chromium package; on ${ID:-this system} it is not installed (only the second CI adapter needs it)"
      exit 0
    fi
  fi
  if ! VK_ICD_FILENAMES="$SWIFTSHADER_ICD" $probe_default >/dev/null 2>&1; then
    echo "setup: Dawn finds no adapter through $SWIFTSHADER_ICD (chromium's SwiftShader); WEBGPU_ADAPTER=swiftshader will not work." >&2
    exit 1
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
