#!/bin/sh
# The package test inside a throwaway Debian 12 root (run by `cargo xtask test`'s package stage,
# see xtask/src/package.rs): install the .deb with apt, check what a user gets, then remove and
# purge it and check that nothing is left. Expects /root/tern-test/tern.deb; /proc, /sys, /run and
# /tmp are fresh mounts in a private mount namespace, so no service of the host can be reached.
set -eu

step() { echo "--- $*"; }
fail() {
    echo "FAILED: $*" >&2
    exit 1
}

export DEBIAN_FRONTEND=noninteractive
# As in image builds: maintainer scripts may enable services but never start them here.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

step "apt-get install ./tern.deb (with its dependencies)"
apt-get install -y -q --no-install-recommends /root/tern-test/tern.deb

step "the binaries run"
tern --version
/usr/libexec/tern/ternd --version
tern --help >/dev/null

step "systemd accepts the unit"
# --man=no: the unit names man:tern(1), and minimal roots have no man-db.
systemd-analyze verify --man=no /lib/systemd/system/ternd.service

step "the service is enabled, the group exists"
[ -L /etc/systemd/system/multi-user.target.wants/ternd.service ] || fail "ternd.service is not enabled"
getent group tern || fail "no group tern"

step "desktop integration"
default=$(xdg-mime query default application/vnd.strongswan.profile) || fail "xdg-mime failed"
echo "application/vnd.strongswan.profile: $default"
[ "$default" = Tern.desktop ] || fail "the default for .sswan is '$default', not Tern.desktop"
default=$(xdg-mime query default x-scheme-handler/tern) || fail "xdg-mime failed"
echo "x-scheme-handler/tern: $default"
[ "$default" = Tern.desktop ] || fail "the handler of tern:// is '$default', not Tern.desktop"
# The MIME database knows the globs (xdg-mime query filetype would need file(1) in the root).
for glob in 'application/vnd.strongswan.profile:\*\.sswan' 'application/x-apple-aspen-config:\*\.mobileconfig'; do
    grep -q ":$glob\$" /usr/share/mime/globs2 || fail "the MIME database lacks $glob"
done
desktop-file-validate /usr/share/applications/Tern.desktop
grep -q '^Exec=tern-gui %u$' /usr/share/applications/Tern.desktop || fail "Exec lacks %u"
[ -s /usr/share/man/man1/tern.1.gz ] || fail "no man page"

step "apt-get remove"
mkdir -p /var/lib/tern
echo '[]' >/var/lib/tern/journal.json
apt-get remove -y -q tern
for path in /usr/bin/tern /usr/bin/tern-gui /usr/libexec/tern /lib/systemd/system/ternd.service \
    /etc/systemd/system/multi-user.target.wants/ternd.service; do
    [ ! -e "$path" ] && [ ! -L "$path" ] || fail "$path is left after removal"
done
default=$(xdg-mime query default application/vnd.strongswan.profile) || fail "xdg-mime failed"
[ -z "$default" ] || fail "'$default' still opens .sswan after removal"
[ -d /var/lib/tern ] || fail "removal (not purge) deleted the helper's state"

step "apt-get purge"
apt-get purge -y -q tern
[ ! -e /var/lib/tern ] || fail "/var/lib/tern is left after purge"
[ ! -e /var/lib/systemd/deb-systemd-helper-enabled/ternd.service.dsh-also ] ||
    fail "deb-systemd-helper state is left after purge"
if dpkg-query -W -f='${Status}' tern 2>/dev/null | grep -q installed; then
    fail "dpkg still knows tern"
fi

echo "--- the package test passed inside the root"
