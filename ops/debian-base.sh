#!/usr/bin/env bash
# Builds debian:bookworm-slim's equivalent from Debian's archive and loads it into Docker, for
# a host that reaches deb.debian.org but not Docker Hub (docs/DEPLOY.md, "Building it here"):
#
#   ops/debian-base.sh [TAG]        # default TAG: dpo-debian:bookworm-slim
#   make image DEBIAN_IMAGE=dpo-debian:bookworm-slim
#
# Docker's own debian images are made the same way (debuerreotype: debootstrap's minbase
# variant, then the "slim" dpkg filters below); this one is not byte-identical to them (other
# timestamps, other package fetch time), so production builds keep the digest-pinned
# debian:bookworm-slim of the Dockerfile. Needs root (debootstrap chroots) and debootstrap.
# DOCKER names the client (default: docker; `podman` works too). EXTRA_CA_CERTS lists PEM
# files the base should trust besides Debian's CAs, for a host whose HTTPS goes through an
# intercepting proxy (as the machine docs/DEPLOY.md was measured on); never for production.
set -euo pipefail

tag=${1:-dpo-debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
docker=${DOCKER:-docker}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase bookworm "$root" "$mirror" >&2

# The slim image's dpkg filters: no documentation, manual pages or translations, now or in
# anything apt installs later (the Dockerfile's python3.11).
cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'FILTERS'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
FILTERS
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/{groff,info,linda,lintian/overrides,locale,man}/*

# The slim image's apt settings: no package files or caches kept after an install, no
# translations, compressed indexes.
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
printf '%s\n' 'Acquire::GzipIndexes "true";' 'Acquire::CompressionTypes::Order:: "gz";' \
  > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"

# The same sources as debian:bookworm-slim: the release, its updates and security updates.
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# ca-certificates, installed by the Dockerfile, adds these to the bundle pip and uv use.
for cert in ${EXTRA_CA_CERTS-}; do
  install -D -m 0644 "$cert" "$root/usr/local/share/ca-certificates/$(basename "${cert%.*}").crt"
done
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* "$root"/tmp/*

tar --numeric-owner --xattrs -C "$root" -c . |
  "$docker" import --change 'CMD ["bash"]' - "$tag" >&2
echo "$tag"
