# SPDX-License-Identifier: GPL-2.0-or-later
# Recipe for the VM root filesystem: a Debian 13 (trixie) debootstrap
# with the test packages and the newest trixie-backports kernel.
# Sourced by rig.sh; the cache key hashes this file and the package
# list, so any change to either builds a fresh root.

MKROOT_SUITE=trixie
MKROOT_MIRROR=http://deb.debian.org/debian

mkroot_packages()
{
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$RIG_LIB/packages"
}

# Bootstrap the base system. minbase keeps it small; the rest comes
# from the root's own apt so that the host's apt is never involved.
mkroot_bootstrap()
{
	local root=$1

	rig_log "debootstrap $MKROOT_SUITE into $root"
	debootstrap --variant=minbase --components=main \
		"$MKROOT_SUITE" "$root" "$MKROOT_MIRROR" >&2
}

mkroot_configure_apt()
{
	local root=$1

	cat > "$root/etc/apt/sources.list" <<SOURCES
deb $MKROOT_MIRROR $MKROOT_SUITE main
deb $MKROOT_MIRROR $MKROOT_SUITE-updates main
deb $MKROOT_MIRROR $MKROOT_SUITE-backports main
SOURCES

	# Package scripts must not start services in the chroot.
	printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"

	cp /etc/resolv.conf "$root/etc/resolv.conf"
}

mkroot_apt()
{
	local root=$1
	shift

	chroot "$root" env DEBIAN_FRONTEND=noninteractive \
		apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >&2
}

# Install the kernel without an initramfs generator: the rig boots
# with its own initramfs. Newer packaging splits the image into
# linux-binary and linux-modules; older kernels ship one package.
# No "-t backports": that would also upgrade linux-libc-dev and the
# project would no longer build against Debian 13's own headers.
mkroot_install_kernel()
{
	local root=$1 kver=$2
	local pkgs="linux-binary-$kver linux-modules-$kver"

	if ! chroot "$root" apt-cache show "linux-binary-$kver" \
			>/dev/null 2>&1; then
		pkgs="linux-image-$kver"
	fi
	# Headers of the same kernel, for the test module (module/).
	pkgs="$pkgs linux-headers-$kver"

	rig_log "installing kernel $kver ($pkgs)"
	mkroot_apt "$root" install --no-install-recommends $pkgs

	chroot "$root" depmod "$kver"
	mkroot_vmlinuz "$root" "$kver" >/dev/null ||
		rig_die "no vmlinuz for $kver in the root"
}

# Print the kernel image path: /boot for older packages,
# /usr/lib/modules/<version>/vmlinuz for the split ones.
mkroot_vmlinuz()
{
	local root=$1 kver=$2 f

	for f in "boot/vmlinuz-$kver" "usr/lib/modules/$kver/vmlinuz"; do
		if [ -e "$root/$f" ]; then
			echo "$root/$f"
			return 0
		fi
	done
	return 1
}

mkroot_finish()
{
	local root=$1

	mkroot_apt "$root" clean
	echo kmod-vm > "$root/etc/hostname"
	: > "$root/etc/fstab"
	mkdir -p "$root/build"
}

# Build the whole root in $1 (a fresh temporary directory).
mkroot_build()
{
	local root=$1 kver=$2

	mkroot_bootstrap "$root"
	mkroot_configure_apt "$root"

	rig_chroot_mount "$root"
	mkroot_apt "$root" update
	rig_log "installing $(mkroot_packages | wc -l) packages"
	mkroot_apt "$root" install --no-install-recommends \
		$(mkroot_packages)
	mkroot_install_kernel "$root" "$kver"
	mkroot_finish "$root"
	rig_chroot_umount "$root"
}
