# Run by the `init-secrets` service of deploy/docker-compose.yml, as root, with busybox's sh
# (the usher image has no other shell). It copies the secrets you made on the host
# (deploy/compose/keys/, see deploy/README.md) into volumes owned by the runtime user
# (uid 65532), so the host files can stay 0600 and owned by you:
#   /out/pass-keys     every *.key and *.pub (pass keys and ticket.key) -> the proxies'
#                      /etc/usher/keys
#   /out/public-keys   every *.pub only -> the backend's /etc/usher/keys
# The volumes mirror the host directory on every `up`: a key removed there is removed here.
set -eu
uid=65532
missing=""
for f in pass-1.key pass-1.pub ticket.key; do
  [ -s "/in/$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
  echo "deploy/compose/keys/ lacks:$missing. Create them once, from the repository root:" >&2
  echo "  cargo run --release -- keygen --out deploy/compose/keys --name pass-1" >&2
  echo "  (umask 077; head -c 32 /dev/urandom > deploy/compose/keys/ticket.key)" >&2
  echo "(see deploy/README.md, 'Keys')" >&2
  exit 1
fi
if [ "$(wc -c < /in/ticket.key)" -lt 32 ]; then
  echo "deploy/compose/keys/ticket.key must hold at least 32 random bytes" >&2
  exit 1
fi

rm -f /out/pass-keys/* /out/public-keys/*
for f in /in/*.key /in/*.pub; do
  [ -f "$f" ] || continue
  name=${f##*/}
  cp "$f" "/out/pass-keys/$name"
  case "$name" in
    *.pub) cp "$f" "/out/public-keys/$name" ;;
  esac
done
chown -R "$uid:$uid" /out/pass-keys /out/public-keys
chmod 0500 /out/pass-keys /out/public-keys
chmod 0400 /out/pass-keys/* /out/public-keys/*
echo "secrets installed: proxies get $(ls /out/pass-keys | tr '\n' ' '); backend gets $(ls /out/public-keys | tr '\n' ' ')"
