#!/usr/bin/env bash
# README.md's "Pipelines and scaling out" recipes, run as they are written
# there (the text is taken from README.md, not copied), so the README stays
# true. Usage: readme_test.sh PATH/TO/green
#
# The recipes name no servers: they fetch https://NAME/ on port 443, resolve
# through /etc/resolv.conf and reach other machines with ssh. So the test runs
# in a network namespace of its own (unshare -n: only a private loopback,
# nothing can leave it, port 443 and 53 are free whoever else runs tests) and
# a mount namespace in which /etc/resolv.conf names the Knot started here on
# 127.0.0.1:53 and the system CA bundle is the test's own certificate (both
# bind mounts are seen by this test alone). nginx serves the names on 443
# with that certificate. `ssh HOST CMD` is a stand-in that runs CMD in a
# directory of its own per host (tests/e2e/lib/fake-ssh), which is all the
# recipes need of a remote machine; GNU parallel's --basefile copies with
# rsync over it.
set -uo pipefail

green=$(realpath "${1:?usage: readme_test.sh PATH/TO/green}")
here=$(cd "$(dirname "$0")" && pwd)
readme=$here/../../README.md

if [ -z "${GREEN_README_NS:-}" ]; then
  # Root (CI, this container) may make the namespaces; elsewhere a user
  # namespace maps us to root inside them.
  for how in "-mn" "-rmn"; do
    if unshare $how true 2>/dev/null; then
      GREEN_README_NS=1 exec unshare $how --propagation private "$0" "$@"
    fi
  done
  echo "readme_test: cannot make a network and mount namespace (unshare -mn / -rmn)" >&2
  exit 1
fi

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

tmp=$(mktemp -d /tmp/green-readme.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  "$here/../dns/knot.sh" stop "$tmp/knot" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

ip link set lo up || { echo "readme_test: no loopback in the namespace" >&2; exit 1; }

# ---- the names, the web servers, the CA and resolv.conf ----------------------
hosts=(web1 web2 web3 web4 web5 web6 web7 web8)
extra=""
for h in "${hosts[@]}"; do extra+="$h A 127.0.0.1"$'\n'; done
extra+="web8 A 127.0.0.2"  # two addresses for one name: two --resolve that add up
KNOT_EXTRA_RECORDS=$extra "$here/../dns/knot.sh" start "$tmp/knot" 10 all 127.0.0.1@53 >/dev/null ||
  { echo "readme_test: Knot did not start" >&2; exit 1; }
echo "nameserver 127.0.0.1" >"$tmp/resolv.conf"
mount --bind "$tmp/resolv.conf" /etc/resolv.conf || { echo "readme_test: cannot mount resolv.conf" >&2; exit 1; }

mkdir -p "$tmp/nginx/logs" "$tmp/nginx/tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=green.test" \
  -addext "subjectAltName=DNS:*.green.test" -addext "basicConstraints=critical,CA:TRUE" \
  -keyout "$tmp/nginx/key.pem" -out "$tmp/nginx/cert.pem" 2>/dev/null
for bundle in /etc/ssl/certs/ca-certificates.crt; do
  [ -e "$bundle" ] || touch "$bundle"
  mount --bind "$tmp/nginx/cert.pem" "$bundle" || { echo "readme_test: cannot mount the CA bundle" >&2; exit 1; }
done
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
user root;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/tmp; proxy_temp_path $tmp/nginx/tmp; fastcgi_temp_path $tmp/nginx/tmp;
  uwsgi_temp_path $tmp/nginx/tmp; scgi_temp_path $tmp/nginx/tmp;
  server {
    listen 443 ssl;  # the namespace's loopback is all there is
    ssl_certificate $tmp/nginx/cert.pem; ssl_certificate_key $tmp/nginx/key.pem;
    location = / { return 200 "front page of \$host\n"; }
    location /ok/ { return 200 "ok\n"; }
    location / { return 404; }
  }
}
EOF
nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" 2>"$tmp/nginx/logs/stderr" &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/443) 2>/dev/null && break
  sleep 0.1
done

# ---- the inputs the recipes read, in the directory they run in ---------------
work=$tmp/work
mkdir -p "$work" "$tmp/bin" "$tmp/hosts"
ln -s "$green" "$tmp/bin/green"
ln -s "$here/lib/fake-ssh" "$tmp/bin/ssh"
export PATH="$tmp/bin:$PATH" FAKE_SSH_HOMES=$tmp/hosts
printf '%s.green.test\n' "${hosts[@]}" nope >"$work/hosts.txt"
printf 'green.test\n' >"$work/domains.txt"
{
  for h in "${hosts[@]}"; do
    for i in 1 2 3; do echo "https://$h.green.test/ok/$i"; done
  done
  echo "https://web1.green.test/missing"
  echo "https://web2.green.test/missing"
  echo "https://127.0.0.1:9/"
} >"$work/urls.txt"

# The ```sh blocks between "## Pipelines and scaling out" and the next "## ".
blocks=$tmp/blocks
mkdir -p "$blocks"
awk -v dir="$blocks" '
  /^## / { inside = ($0 == "## Pipelines and scaling out") }
  inside && /^```sh$/ { n++; code = 1; next }
  code && /^```$/ { code = 0; next }
  code { print > (dir "/" n ".sh") }' "$readme"
[ "$(ls "$blocks" | wc -l)" -eq 2 ] ||
  fail "README's 'Pipelines and scaling out' has $(ls "$blocks" | wc -l) sh blocks; this test knows 2 (a new recipe needs its checks here)"

run_block() {  # N: runs block N in $work; its stdout in $tmp/N.out, stderr in $tmp/N.err
  (cd "$work" && timeout 120 bash "$blocks/$1.sh" >"$tmp/$1.out" 2>"$tmp/$1.err")
}

# ---- 1: resolve -> fetch --resolve, the retry list, the first MX ------------
run_block 1 || fail "block 1 exited $?: $(tail -5 "$tmp/1.err")"
want=$(for h in "${hosts[@]}"; do printf '%s.green.test\t127.0.0.1\n' "$h"; done; printf 'web8.green.test\t127.0.0.2\n')
[ "$(sort "$work/addresses.tsv")" = "$(sort <<<"$want")" ] ||
  fail "addresses.tsv: $(cat "$work/addresses.tsv")"
for h in "${hosts[@]}"; do
  grep -q "^200	[0-9]*	[0-9.]*	https://$h.green.test/$" "$tmp/1.out" || fail "no front page of $h: $(cat "$tmp/1.out")"
done
[ "$(grep -c '	https://' "$tmp/1.out")" -eq ${#hosts[@]} ] || fail "front pages: $(cat "$tmp/1.out")"
printf '%s\n' https://web1.green.test/missing https://web2.green.test/missing https://127.0.0.1:9/ >"$tmp/retry.want"
sort "$work/retry.txt" | cmp -s - <(sort "$tmp/retry.want") || fail "retry.txt: $(cat "$work/retry.txt")"
[ "$(grep -c '	MX	' "$tmp/1.out")" -eq 1 ] && grep -Eq '^green\.test	MX	300	(10 mail|20 mail2)\.green\.test$' "$tmp/1.out" ||
  fail "the first MX: $(cat "$tmp/1.out")"

# ---- 2: sharding with GNU parallel over "ssh", and by hand -------------------
"$green" fetch -q --json "$work/urls.txt" 2>/dev/null | jq -r .url | sort >"$tmp/all.urls"
[ "$(wc -l <"$tmp/all.urls")" -eq 27 ] || fail "the unsharded run: $(wc -l <"$tmp/all.urls") URLs"
run_block 2 || true  # fetch exits 1: some URLs fail on purpose
jq -r .url "$work/results.jsonl" | sort >"$tmp/parallel.urls"
cmp -s "$tmp/all.urls" "$tmp/parallel.urls" ||
  fail "parallel's shards differ from one run: $(diff "$tmp/all.urls" "$tmp/parallel.urls" | head); parallel said: $(tail -5 "$tmp/2.err")"
for i in 1 2 3 4; do
  [ -s "$tmp/hosts/host$i/urls.txt" ] || fail "--basefile did not reach host$i"
done
cut -f4 "$work"/part{1,2,3,4}.tsv | sort >"$tmp/ssh.urls"
cmp -s "$tmp/all.urls" "$tmp/ssh.urls" || fail "the ssh shards differ from one run: $(diff "$tmp/all.urls" "$tmp/ssh.urls" | head)"
for i in 1 2 3 4; do
  [ -s "$work/part$i.tsv" ] || fail "shard $i/4 got nothing (8 hosts over 4 shards)"
done

[ $failures -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "readme e2e: all passed"
