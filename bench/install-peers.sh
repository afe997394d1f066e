#!/bin/sh
# Installs the tools the benchmark compares coffer with, from Debian's
# packages (Debian 12: restic 0.14, borg 1.2, duplicity 0.8, age 1.1, zstd 1.5,
# gnupg 2.2), and GNU time, which the benchmark measures with.
# Run as root (or through sudo): sh bench/install-peers.sh
set -eu
if [ "$(id -u)" -ne 0 ]; then
  echo "install-peers: error: run as root (sudo sh bench/install-peers.sh)" >&2
  exit 2
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y \
  time restic borgbackup duplicity age zstd gnupg tar
for t in /usr/bin/time restic borg duplicity age age-keygen zstd gpg; do
  command -v "$t" >/dev/null || { echo "install-peers: error: $t is still missing" >&2; exit 1; }
done
echo "install-peers: restic, borg, duplicity, age, zstd, gpg and GNU time are installed"
