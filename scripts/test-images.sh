#!/usr/bin/env bash
# Builds the Docker images Kiln's tests use. There is no container registry here, so
# every image is built locally, once, and reused:
#
#   kiln-test/busybox:latest                     FROM scratch + Debian's busybox-static
#   kiln-test/debian:bookworm                    debootstrap --variant=minbase, docker import
#   nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04  FROM the Debian image, with the CUDA
#                                                image's CUDA_VERSION and NVIDIA_REQUIRE_CUDA
#                                                (its contents are not CUDA; its tag and env are)
#
# Idempotent: an image that exists is skipped. --force rebuilds all of them.
# Installs the Debian packages it needs (busybox-static, debootstrap) when missing.
#
# Usage: scripts/test-images.sh [--force]
set -euo pipefail

force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	-h | --help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "test-images.sh: unknown argument $arg (want --force)" >&2
		exit 2
		;;
	esac
done

BUSYBOX=kiln-test/busybox:latest
DEBIAN=kiln-test/debian:bookworm
CUDA=nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04
LABEL=dev.kiln.test-image=true
export DOCKER_BUILDKIT=0 # the legacy builder, without its deprecation notice (no buildx here)

log() { echo "test-images: $*" >&2; }

have_image() {
	[ "$force" = 0 ] && docker image inspect "$1" >/dev/null 2>&1
}

apt_updated=0
need_package() { # need_package PACKAGE: install the Debian package unless it is installed
	if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; then return; fi
	if [ "$apt_updated" = 0 ]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		apt_updated=1
	fi
	log "installing $1"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

# debian_mirror prints the first URIs: of the machine's Debian sources (not -security).
debian_mirror() {
	local f=/etc/apt/sources.list.d/debian.sources
	if [ -r "$f" ]; then
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f"
		return
	fi
	awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Images replaced by --force, removed at the end (newest first, so parents go last).
replaced=()
note_replaced() {
	local old
	old=$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null) || return 0
	replaced=("$old" "${replaced[@]}")
}

# build runs docker build quietly, showing its output only when it fails.
build() {
	if ! docker build -q "$@" >/dev/null 2>"$tmp/build.log"; then
		cat "$tmp/build.log" >&2
		log "docker build failed"
		exit 1
	fi
}

build_busybox() {
	if have_image "$BUSYBOX"; then
		log "$BUSYBOX exists (use --force to rebuild)"
		return
	fi
	# busybox-static's /bin/busybox is statically linked, so it runs FROM scratch.
	need_package busybox-static
	local ctx="$tmp/busybox"
	mkdir -p "$ctx"
	cp /bin/busybox "$ctx/busybox"
	cat >"$ctx/Dockerfile" <<-'EOF'
		FROM scratch
		COPY busybox /bin/busybox
		RUN ["/bin/busybox", "--install", "-s", "/bin"]
		ENV PATH=/bin
		CMD ["sh"]
	EOF
	log "building $BUSYBOX"
	note_replaced "$BUSYBOX"
	build --label "$LABEL" -t "$BUSYBOX" "$ctx"
}

build_debian() {
	if have_image "$DEBIAN"; then
		log "$DEBIAN exists (use --force to rebuild)"
		return
	fi
	need_package debootstrap
	local mirror rootfs="$tmp/rootfs"
	mirror=$(debian_mirror)
	if [ -z "$mirror" ]; then
		log "no Debian mirror found in /etc/apt/sources.list.d/debian.sources (URIs:)"
		exit 1
	fi
	log "debootstrap bookworm from $mirror (about a minute)"
	/usr/sbin/debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
		tail -n 20 "$tmp/debootstrap.log" >&2
		log "debootstrap failed"
		exit 1
	}
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
	log "importing $DEBIAN"
	note_replaced "$DEBIAN"
	tar -C "$rootfs" -c . | docker import \
		-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		-c 'CMD ["bash"]' \
		-c "LABEL $LABEL" \
		- "$DEBIAN" >/dev/null
}

build_cuda() {
	if have_image "$CUDA"; then
		log "$CUDA exists (use --force to rebuild)"
		return
	fi
	local ctx="$tmp/cuda"
	mkdir -p "$ctx"
	cat >"$ctx/Dockerfile" <<-EOF
		FROM $DEBIAN
		ENV CUDA_VERSION=12.1.1
		ENV NVIDIA_REQUIRE_CUDA="cuda>=12.1 brand=tesla,driver>=470,driver<471"
	EOF
	log "building $CUDA"
	note_replaced "$CUDA"
	build --label "$LABEL" -t "$CUDA" "$ctx"
}

build_busybox
build_debian
build_cuda
for old in "${replaced[@]}"; do
	# Fails harmlessly when the old image is still the current one or in use.
	docker image rm "$old" >/dev/null 2>&1 || true
done
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
	--filter "reference=$BUSYBOX" --filter "reference=$DEBIAN" --filter "reference=$CUDA"
