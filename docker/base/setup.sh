#!/bin/sh
# Run inside the debootstrapped root filesystem (chroot) before it is imported as the base image.
set -eu
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
# /testbed is owned by root and so is every process: no "dubious ownership" complaints.
git config --system --add safe.directory '*'
git config --system user.name "srl-swe"
git config --system user.email "sandbox@srl-swe.invalid"
git config --system init.defaultBranch main
mkdir -p /testbed
echo "srl-swe base image" > /etc/srl-swe-base
