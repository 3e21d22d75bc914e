# Sourced by gpu-bench.sh and gpu-recall.sh (after their cd to the project root) with the results'
# name: sets $out (out/NAME, emptied: one run's results) and defines keep, which packs $out
# (checkpoints left out) into $OUT/NAME.tar.gz and copies its .txt summaries beside it. Call keep
# after every step: the device tool brings back at most 8 files of 16 MiB from $OUT, even from a
# command cut off at its limit, so a run's many logs travel as one archive and stay out of $OUT.
# On a headless NVIDIA machine it also points the Vulkan loader at the driver's EGL library (below).
results=$1 # not "name": the scripts' functions have locals of that name
out=out/$results
rm -rf "$out"
mkdir -p "$out"
keep() {
  [ -n "${OUT:-}" ] || return 0
  mkdir -p "$OUT"
  tar -czf "$OUT/$results.tar.gz" --exclude="$results/run" -C out "$results"
  cp "$out"/*.txt "$OUT"/ 2>/dev/null || true
}

# Vulkan on a headless NVIDIA machine: the driver's ICD file names libGLX_nvidia.so.0, whose Vulkan
# entry point needs an X display (without one the loader reports "Could not get 'vkCreateInstance'
# via 'vk_icdGetInstanceProcAddr'" and Dawn finds no adapter: seen on the H200, driver 580).
# libEGL_nvidia.so.0 carries the same Vulkan driver without X, so point the loader at that.
# A VK_DRIVER_FILES naming another driver is left as it is.
if [ -z "${DISPLAY:-}" ] && { [ -z "${VK_DRIVER_FILES:-}" ] || grep -qs libGLX_nvidia "${VK_DRIVER_FILES}"; }; then
  for egl in /usr/local/nvidia/lib64/libEGL_nvidia.so.0 /usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.0; do
    [ -e "$egl" ] || continue
    api=$(grep -ho '"api_version" *: *"[0-9.]*"' "${VK_DRIVER_FILES:-/dev/null}" 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)
    printf '{"file_format_version": "1.0.1", "ICD": {"library_path": "%s", "api_version": "%s"}}\n' "$egl" "${api:-1.3.0}" >"$out/nvidia_egl_icd.json"
    export VK_DRIVER_FILES=$PWD/$out/nvidia_egl_icd.json VK_ICD_FILENAMES=$PWD/$out/nvidia_egl_icd.json
    echo "Vulkan: the NVIDIA driver through $egl (no X display)"
    break
  done
fi
