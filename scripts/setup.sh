#!/usr/bin/env bash
# Makes sure Dawn finds a WebGPU adapter. On a GPU-less Debian/Ubuntu machine that means
# Mesa's lavapipe (Vulkan on the CPU) >= 24 and the Vulkan loader. Debian 12's own Mesa 22
# is rejected by Dawn ("shaderUniform*ArrayDynamicIndexing required"), so on bookworm we
# take Mesa from bookworm-backports. Idempotent: does nothing when an adapter already works.
set -euo pipefail
cd "$(dirname "$0")/.."
# The page tests run the chat page in the system's Chromium (headless; WebGPU on its built-in
# SwiftShader adapter when there is no GPU). Debian 12 has the current Chromium in its security suite.
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  echo "setup: installing chromium (the page tests run the chat page in it)"
  s=""; [ "$(id -u)" = 0 ] || s="sudo"
  $s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $s apt-get install -y -qq chromium >/dev/null
fi
probe() { node scripts/probe-adapter.mjs 2>/dev/null; }
if probe; then exit 0; fi
echo "setup: no WebGPU adapter found; installing Mesa lavapipe and the Vulkan loader"
if ! command -v apt-get >/dev/null; then
  echo "setup: this script knows apt-get only. Install a Vulkan driver (GPU vendor driver, or Mesa >= 24 'lavapipe') and the Vulkan loader, then retry." >&2
  exit 1
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  list=/etc/apt/sources.list.d/bookworm-backports.list
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $sudo tee "$list" >/dev/null
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
if probe; then exit 0; fi
echo "setup: still no WebGPU adapter after installing Mesa. Check 'vulkaninfo --summary' (package vulkan-tools); Dawn needs Mesa >= 24." >&2
exit 1
