# SPDX-License-Identifier: GPL-2.0-or-later
# The VM test rig shared by kmod-tests/run and kmod-tests/demo:
# prepare the cached root and kernel, build the checkout in the root,
# make the initramfs and boot the VM with qemu.
# Sourced, not executed; the caller sets `set -euo pipefail`.

RIG_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RIG_DIR=$(dirname "$RIG_LIB")
RIG_CACHE=${HANDSHAKED_KMOD_CACHE:-/var/cache/handshaked-kmod}
RIG_TIMEOUT=${HANDSHAKED_KMOD_TIMEOUT:-1800}
RIG_SYSTEMD_TIMEOUT=${HANDSHAKED_KMOD_SYSTEMD_TIMEOUT:-900}
RIG_MOUNTS=()

# shellcheck source=mkroot.sh
. "$RIG_LIB/mkroot.sh"

rig_log()
{
	printf 'kmod-tests: %s\n' "$*" >&2
}

rig_die()
{
	rig_log "error: $*"
	exit 1
}

# ---- chroot mounts, always undone on exit ------------------------------

rig_mount()
{
	mount "$@"
	RIG_MOUNTS+=("${!#}")
}

rig_chroot_mount()
{
	local root=$1

	rig_mount -t proc proc "$root/proc"
	rig_mount -t sysfs sysfs "$root/sys"
	rig_mount --bind /dev "$root/dev"
	rig_mount --bind /dev/pts "$root/dev/pts"
}

rig_chroot_umount()
{
	local i

	for ((i = ${#RIG_MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${RIG_MOUNTS[i]}" 2>/dev/null ||
			umount -l "${RIG_MOUNTS[i]}" || true
	done
	RIG_MOUNTS=()
}

trap rig_chroot_umount EXIT
# Make a signal an ordinary exit so that the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

# Refuse to delete a tree that still has something mounted inside:
# a bind mount of /dev would take the host's device nodes with it.
rig_safe_rm()
{
	local dir=$1 m

	for m in $(awk '{ print $2 }' /proc/mounts); do
		case $m in
		"$dir"|"$dir"/*) umount -l "$m" || true ;;
		esac
	done
	if awk '{ print $2 }' /proc/mounts | grep -q "^$dir"; then
		rig_die "still mounted below '$dir', not removing it"
	fi
	rm -rf --one-file-system "$dir"
}

# ---- host prerequisites ------------------------------------------------

rig_host_prereqs()
{
	local need=() pair

	for pair in qemu-system-x86_64:qemu-system-x86 \
		    debootstrap:debootstrap curl:curl xz:xz-utils \
		    git:git flock:util-linux stdbuf:coreutils \
		    sha256sum:coreutils gzip:gzip; do
		command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
	done
	[ ${#need[@]} -eq 0 ] && return 0

	rig_log "installing host packages: ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -q update >&2
	DEBIAN_FRONTEND=noninteractive apt-get -q -y install \
		--no-install-recommends "${need[@]}" >&2
}

# ---- which kernel, which cache entry -----------------------------------

# Sets RIG_KVER (e.g. 7.3.4+deb13-amd64) and RIG_KPKG (its Debian
# version) from the newest linux-image-amd64 in trixie-backports.
rig_kernel_lookup()
{
	local url="$MKROOT_MIRROR/dists/$MKROOT_SUITE-backports/main"
	local stanza

	url="$url/binary-amd64/Packages.xz"
	if ! stanza=$(curl -fsSL --retry 3 "$url" | xz -dc |
		      awk '/^Package: linux-image-amd64$/, /^$/'); then
		rig_kernel_from_cache
		return
	fi

	RIG_KVER=$(sed -n 's/^Depends:.*linux-image-\([^ ,]*-amd64\) .*/\1/p' \
		   <<< "$stanza")
	RIG_KPKG=$(sed -n 's/^Version: //p' <<< "$stanza")
	[ -n "$RIG_KVER" ] || rig_die "no kernel found in '$url'"
}

# Offline: take the newest root already prepared.
rig_kernel_from_cache()
{
	local newest

	newest=$(ls -d "$RIG_CACHE/roots/$MKROOT_SUITE-"* 2>/dev/null |
		 sort -V | tail -n 1)
	[ -n "$newest" ] ||
		rig_die "mirror unreachable and nothing prepared in '$RIG_CACHE'"
	rig_log "mirror unreachable, using the prepared '$newest'"
	RIG_KVER=$(sed -n 's/^kernel=//p' "$newest/info")
	RIG_KPKG=$(sed -n 's/^kernel_package=//p' "$newest/info")
}

rig_recipe_hash()
{
	cat "$RIG_LIB/packages" "$RIG_LIB/mkroot.sh" |
		sha256sum | cut -c1-12
}

# ---- preparation -------------------------------------------------------

# Sets RIG_ENTRY (cache entry directory) and RIG_ROOT (its root).
# The root is built in a temporary directory and renamed into place
# only when complete, so an interrupted run leaves nothing half-made.
rig_prepare()
{
	local key tmp

	mkdir -p "$RIG_CACHE/roots"
	exec 9> "$RIG_CACHE/lock"
	flock 9

	rig_kernel_lookup
	key="$MKROOT_SUITE-$RIG_KVER-$(rig_recipe_hash)"
	RIG_ENTRY="$RIG_CACHE/roots/$key"
	RIG_ROOT="$RIG_ENTRY/root"
	rig_log "kernel $RIG_KVER (Debian package $RIG_KPKG)"

	if [ -e "$RIG_ENTRY/info" ]; then
		rig_log "reusing prepared root '$RIG_ENTRY'"
		return 0
	fi

	for tmp in "$RIG_CACHE"/roots/.tmp-*; do
		[ -e "$tmp" ] || continue
		rig_log "removing unfinished preparation '$tmp'"
		rig_safe_rm "$tmp"
	done

	tmp="$RIG_CACHE/roots/.tmp-$key"
	mkdir -p "$tmp"
	SECONDS=0
	mkroot_build "$tmp/root" "$RIG_KVER"
	printf 'suite=%s\nkernel=%s\nkernel_package=%s\nrecipe=%s\n' \
		"$MKROOT_SUITE" "$RIG_KVER" "$RIG_KPKG" \
		"$(rig_recipe_hash)" > "$tmp/info"
	mv "$tmp" "$RIG_ENTRY"
	rig_log "prepared '$RIG_ENTRY' in ${SECONDS}s"
}

# ---- initramfs ---------------------------------------------------------

# Modules needed before the 9p root is mounted (overlay for the systemd
# phase); their dependencies are resolved from the kernel's modules.dep.
RIG_INITRD_MODULES="virtio_pci 9pnet_virtio 9p overlay"

# Print the module paths (relative to the modules directory) to load
# for $1, dependencies first.
rig_module_order()
{
	local moddir=$1 name path deps d
	shift

	for name in "$@"; do
		path=$(grep -E "(^|/)${name//_/[-_]}\.ko(\.[a-z]+)?:" \
			"$moddir/modules.dep" | cut -d: -f1) || true
		if [ -z "$path" ]; then
			grep -q "/${name//_/[-_]}\.ko" "$moddir/modules.builtin" ||
				rig_die "module '$name' not found for the VM kernel"
			continue
		fi
		deps=$(grep "^$path:" "$moddir/modules.dep" | cut -d: -f2)
		for d in $deps; do
			rig_module_order "$moddir" "$(basename "${d%%.ko*}")"
		done
		echo "$path"
	done
}

rig_initrd_hash()
{
	cat "$RIG_LIB/initramfs-init" "$RIG_LIB/rig.sh" |
		sha256sum | cut -c1-12
}

# Sets RIG_INITRD; builds it into the cache entry when missing.
rig_initramfs()
{
	local moddir="$RIG_ROOT/usr/lib/modules/$RIG_KVER"
	local stage m out

	RIG_INITRD="$RIG_ENTRY/initrd-$(rig_initrd_hash).img"
	[ -e "$RIG_INITRD" ] && return 0

	rig_log "making initramfs"
	stage=$(mktemp -d "$RIG_ROOT/tmp/initramfs.XXXXXX")
	mkdir -p "$stage"/{bin,dev,proc,sys,newroot,modules}
	cp "$RIG_ROOT/usr/bin/busybox" "$stage/bin/busybox"
	cp "$RIG_LIB/initramfs-init" "$stage/init"
	chmod 755 "$stage/init"

	for m in $(rig_module_order "$moddir" $RIG_INITRD_MODULES |
		   awk '!seen[$0]++'); do
		out="$stage/modules/$(basename "${m%%.ko*}").ko"
		rig_decompress "$moddir/$m" > "$out"
		basename "$out" >> "$stage/modules/order"
	done

	(cd "$stage" && find . | chroot "$RIG_ROOT" sh -c \
		"cd /tmp/$(basename "$stage") && cpio -o -H newc --quiet") |
		gzip -1 > "$RIG_INITRD.tmp"
	rm -rf "$stage"
	mv "$RIG_INITRD.tmp" "$RIG_INITRD"
}

rig_decompress()
{
	case $1 in
	*.xz)	xz -dc "$1" ;;
	*.zst)	zstd -qdc "$1" ;;
	*.gz)	gzip -dc "$1" ;;
	*)	cat "$1" ;;
	esac
}

# ---- build the checkout in the root ------------------------------------

rig_checkout_files()
{
	local top=$1

	if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$top" ls-files -co --exclude-standard -z
	else
		(cd "$top" && find . -path ./build -prune -o -type f \
			-print0)
	fi
}

# Copy the working tree (uncommitted files included) to /build/src in
# the root and build it there with the root's compiler and GnuTLS.
rig_build()
{
	local top src="$RIG_ROOT/build/src"

	top=$(cd "$RIG_DIR/.." && pwd)
	rm -rf "$src" "$RIG_ROOT/build/build" "$RIG_ROOT/build/rig"
	mkdir -p "$src" "$RIG_ROOT/build/rig"

	rig_log "copying the checkout '$top' to /build/src"
	rig_checkout_files "$top" |
		(cd "$top" && xargs -0 -r sh -c \
			'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
		tar -C "$top" --null -T - -cf - | tar -C "$src" -xf -

	rig_log "building with $(chroot "$RIG_ROOT" gcc --version | head -n 1)"
	rig_chroot_mount "$RIG_ROOT"
	if ! chroot "$RIG_ROOT" sh -c 'cd /build/src &&
		meson setup -Dwerror=true /build/build >/build/rig/build.log 2>&1 &&
		meson compile -C /build/build >>/build/rig/build.log 2>&1'; then
		rig_chroot_umount
		cat "$RIG_ROOT/build/rig/build.log" >&2
		rig_die "build of the checkout failed in the VM root"
	fi
	rig_build_kmod
	rig_chroot_umount
	rig_log "build ok (log: $RIG_ROOT/build/rig/build.log)"
}

# The load generator module and the benchmark's helpers, built into
# /build/kmod against the VM kernel's headers. A failure here only
# warns: the tests that need them report it with this log.
rig_build_kmod()
{
	local build=/build/src/kmod-tests/module/build

	[ -x "$RIG_ROOT$build" ] || return 0
	if chroot "$RIG_ROOT" sh -c "$build '$RIG_KVER' /build/kmod \
			>/build/rig/kmod.log 2>&1"; then
		rig_log "built /build/kmod (log: $RIG_ROOT/build/rig/kmod.log)"
	else
		rig_log "warning: building /build/kmod failed, see '$RIG_ROOT/build/rig/kmod.log'"
	fi
}

# ---- boot ------------------------------------------------------------

# Drop carriage returns and the firmware's terminal control sequences
# so the console reads cleanly in a log file.
rig_console_filter()
{
	sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' \
		-e 's/\r$//'
}

# The kernel command line of each mode. "systemd" boots systemd as
# PID 1 on an overlay root (nothing it writes reaches the cached root
# but /build); its run generator starts `vm-systemd` once the system is
# up and powers off when it ends. tlshd.service is enabled in the root
# and would compete for the handshakes; the timers (apt, man-db, ...)
# only cost time.
rig_append()
{
	local append="console=ttyS0 quiet panic=-1"

	case $1 in
	systemd)
		append="$append rig.overlay rig.init=/usr/lib/systemd/systemd"
		append="$append systemd.run=/build/src/kmod-tests/lib/vm-systemd"
		append="$append systemd.run_success_action=poweroff"
		append="$append systemd.run_failure_action=poweroff"
		append="$append systemd.mask=tlshd.service"
		append="$append systemd.mask=timers.target"
		;;
	*)
		append="$append rig.init=/build/src/kmod-tests/lib/vm-init"
		;;
	esac
	echo "$append"
}

# Boot the VM to run the given mode (`vm-init`'s test or demo, or the
# systemd phase) with the given arguments. The console goes to stdout
# and to console.log (console-systemd.log); sets RIG_STATUS to the
# status the VM wrote, 1 when it wrote none.
rig_boot()
{
	local job="$RIG_ROOT/build/rig/job" rc=0
	local append virtfs log=console timeout=$RIG_TIMEOUT

	append=$(rig_append "$1")
	if [ "$1" = systemd ]; then
		log=console-systemd
		timeout=$RIG_SYSTEMD_TIMEOUT
	fi
	{
		printf 'RIG_MODE=%q\n' "$1"
		shift
		printf 'RIG_ARGS=('
		printf '%q ' "$@"
		printf ')\n'
		printf 'RIG_KPKG=%q\n' "$RIG_KPKG"
		printf 'RIG_AGENT=%q\n' "${HANDSHAKED_KMOD_AGENT:-handshaked}"
	} > "$job"
	rm -f "$RIG_ROOT/build/rig/status"

	virtfs="local,path=$RIG_ROOT,mount_tag=root"
	virtfs="$virtfs,security_model=passthrough,multidevs=remap"
	rig_log "booting $RIG_KVER under TCG (timeout ${timeout}s)"
	timeout -k 10 "$timeout" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -m 4G -smp 2 \
		-nographic -no-reboot -nic none \
		-kernel "$(mkroot_vmlinuz "$RIG_ROOT" "$RIG_KVER")" \
		-initrd "$RIG_INITRD" -append "$append" \
		-virtfs "$virtfs" \
		< /dev/null | rig_console_filter |
		tee "$RIG_ENTRY/$log.log" || rc=$?

	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		rig_log "error: the VM did not finish within ${timeout}s"
	fi
	RIG_STATUS=1
	if [ -s "$RIG_ROOT/build/rig/status" ]; then
		RIG_STATUS=$(cat "$RIG_ROOT/build/rig/status")
	else
		rig_log "error: the VM did not report a status"
	fi
}

# Never call this in a condition (`if`, `||`): that would switch off
# `set -e` for every step inside. Read RIG_STATUS afterwards.
rig_main()
{
	local mode=$1
	shift

	rig_host_prereqs
	rig_prepare
	rig_initramfs
	rig_build
	rig_boot "$mode" "$@"
}
