#!/usr/bin/env bash
# Installs the system tools the tests and benchmarks use (Debian packages):
#   mosquitto  - a real MQTT broker for uplink tests
#   socat      - virtual serial port pairs for serial / RS-485 driver tests
#   ffmpeg     - real video decoding for camera tests
#   openssl    - test CA and certificates for TLS tests
#   fonts-wqy-microhei - Chinese glyphs for the OCR tests (text rendered by the test, read back)
#   rabbitmq-server - a real two-node MQTT broker cluster for the fleet cluster test (its rabbitmq_mqtt plugin)
#   chromium   - a real browser for the status page and flow editor tests (driven by playwright-core)
#   lintian    - checks the .deb the packaging builds
#   qemu-user-static, libc6:arm64, libstdc++6:arm64 - run the arm64 bundle's Node on this x86-64 machine
# Idempotent and quiet when everything is present. Runs before `npm test`.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 || need+=(rabbitmq-server)

command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
# The arm64 run needs an x86-64 host (elsewhere the bundle's own arch runs natively).
arm64=0
if [ "$(uname -m)" = "x86_64" ] && command -v dpkg >/dev/null 2>&1; then
  arm64=1
  command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
  [ -e /lib/aarch64-linux-gnu/libc.so.6 ] || need+=(libc6:arm64)
  [ -e /usr/lib/aarch64-linux-gnu/libstdc++.so.6 ] || need+=(libstdc++6:arm64)
fi

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "wayside: installing system packages for tests: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ "$arm64" = 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; fi
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts a system mosquitto on :1883 on install; tests run their own brokers on free ports.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
  # Debian starts a system rabbitmq (AMQP :5672, epmd :4369) on install; the cluster test starts
  # its own nodes as the current user on free ports.
  if printf '%s\n' "${need[@]}" | grep -qx rabbitmq-server; then
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true; fi
    if command -v service >/dev/null 2>&1; then service rabbitmq-server stop >/dev/null 2>&1 || true; fi
    # ...and leaves its epmd (:4369) running without systemd.
    if command -v epmd >/dev/null 2>&1; then epmd -kill >/dev/null 2>&1 || true; fi
  fi
  echo "wayside: installed ${need[*]}" >&2
else
  echo "wayside: the tests need these system packages, which are missing: ${need[*]}" >&2
  echo "  on Debian/Ubuntu run as root:  apt-get install -y ${need[*]}" >&2
  exit 1
fi
