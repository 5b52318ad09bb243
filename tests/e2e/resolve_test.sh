#!/usr/bin/env bash
# End-to-end checks of `green resolve` against a real authoritative server
# (Knot DNS, tests/dns/knot.sh) on loopback: every answer checked against
# the zone, failover, timeouts, 100,000 streamed names, --ordered, --json,
# PTR, bad input and exit codes. Every run names its --server, so nothing
# reads /etc/resolv.conf. Usage: resolve_test.sh PATH/TO/green
set -u
green=${1:?usage: resolve_test.sh PATH/TO/green}
here=$(cd "$(dirname "$0")" && pwd)
knot="$here/../dns/knot.sh"
work=$(mktemp -d /tmp/green-resolve-e2e-XXXXXX)
silent_pid=
cleanup() {
  "$knot" stop "$work/good" 2>/dev/null
  "$knot" stop "$work/refuser" 2>/dev/null
  [ -n "$silent_pid" ] && kill "$silent_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

bulk=100000
good_port=$("$knot" start "$work/good" $bulk) || { echo "cannot start knotd" >&2; exit 1; }
refuser_port=$("$knot" start "$work/refuser" 0 none) || { echo "cannot start the second knotd" >&2; exit 1; }
good=127.0.0.1:$good_port
refuser=127.0.0.1:$refuser_port
# A UDP socket that is bound but never read: a server that never answers.
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(600)
' >"$work/silent.port" &
silent_pid=$!
for _ in $(seq 1 100); do [ -s "$work/silent.port" ] && break; sleep 0.05; done
silent=127.0.0.1:$(cat "$work/silent.port")

resolve() { "$green" resolve --no-progress "$@"; }

# ---- every record type, against the zone ---------------------------------
printf '%s\n' www.green.test mail.green.test alias.green.test >"$work/a.txt"
out=$(resolve --server "$good" -t A,AAAA "$work/a.txt" 2>"$work/err"); rc=$?
[ $rc -eq 1 ] || fail "A,AAAA over names where two lack AAAA exited $rc, want 1"
want=$'alias.green.test\tCNAME\t60\twww.green.test
mail.green.test\tA\t120\t192.0.2.25
www.green.test\tA\t300\t192.0.2.10
www.green.test\tA\t300\t192.0.2.10
www.green.test\tA\t300\t192.0.2.11
www.green.test\tA\t300\t192.0.2.11
www.green.test\tAAAA\t301\t2001:db8::10
www.green.test\tAAAA\t301\t2001:db8::10'
[ "$(sort <<<"$out")" = "$want" ] || fail "A/AAAA answers differ from the zone:\n$out"
grep -qx 'green resolve: mail.green.test AAAA: NODATA' "$work/err" || fail "mail AAAA not reported as NODATA: $(cat "$work/err")"
# Several types: the CNAME chain and NXDOMAIN they share are written once.
out=$(printf 'dangling.green.test\nnope.green.test\n' | resolve --server "$good" -t A,AAAA,MX 2>"$work/err")
[ "$out" = $'dangling.green.test\tCNAME\t90\tmissing.green.test' ] || fail "dangling chain with three types:\n$out"
[ "$(grep -c 'dangling.green.test .*: NXDOMAIN$' "$work/err")" -eq 1 ] || fail "dangling NXDOMAIN not once: $(cat "$work/err")"
[ "$(grep -c 'nope.green.test .*: NXDOMAIN$' "$work/err")" -eq 1 ] || fail "nope NXDOMAIN not once: $(cat "$work/err")"
grep -q ', NXDOMAIN 6,' "$work/err" || fail "the summary still counts each query: $(tail -n 1 "$work/err")"

# IDN: asked as its xn-- form, printed as given; a name that is not valid
# UTF-8 is a bad line.
out=$(printf 'b\xc3\xbccher.green.test\n' | resolve --server "$good" 2>"$work/err"); rc=$?
[ $rc -eq 0 ] && [ "$out" = $'b\xc3\xbccher.green.test\tA\t300\t192.0.2.77' ] || fail "IDN: rc $rc, $out, $(cat "$work/err")"
out=$(printf 'b\xc3\xbccher.green.test\n' | resolve --server "$good" --addresses 2>/dev/null)
[ "$out" = $'b\xc3\xbccher.green.test\t192.0.2.77' ] || fail "IDN --addresses: $out"
out=$(printf 'b\xc3\xbccher.green.test\n' | resolve --server "$good" --json 2>/dev/null)
grep -q '"query":"xn--bcher-kva.green.test"' <<<"$out" || fail "IDN --json lacks the query: $out"
err=$(printf 'bad\xffname.test\nwww.green.test\n' | resolve --server "$good" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && grep -q "stdin:1: invalid name 'bad\\\\xffname.test'" <<<"$err" || fail "bad UTF-8: rc $rc, $err"

out=$(echo green.test | resolve --server "$good" -t MX,NS,TXT,SOA,CAA 2>"$work/err"); rc=$?
[ $rc -eq 0 ] || fail "MX,NS,TXT,SOA,CAA exited $rc: $(cat "$work/err")"
want=$'green.test\tCAA\t86400\t0 issue "ca.example.net"
green.test\tCAA\t86400\t128 iodef "mailto:security@green.test"
green.test\tMX\t300\t10 mail.green.test
green.test\tMX\t300\t20 mail2.green.test
green.test\tNS\t3600\tns1.green.test
green.test\tNS\t3600\tns2.green.test
green.test\tSOA\t3600\tns1.green.test hostmaster.green.test 2026112201 7200 900 1209600 300
green.test\tTXT\t600\t"v=spf1 -all"'
[ "$(sort <<<"$out")" = "$want" ] || fail "apex answers differ from the zone:\n$out"

out=$(printf '_sip._tcp.green.test\n' | resolve --server "$good" -t SRV 2>/dev/null)
want=$'_sip._tcp.green.test\tSRV\t600\t10 60 5060 sip.green.test
_sip._tcp.green.test\tSRV\t600\t20 40 5061 sip2.green.test'
[ "$(sort <<<"$out")" = "$want" ] || fail "SRV answers differ: $out"

out=$(printf 'multi.green.test\n' | resolve --server "$good" -t TXT 2>/dev/null)
[ "$out" = $'multi.green.test\tTXT\t400\t"first string" "second \\"quoted\\" string"' ] || fail "multi-string TXT: $out"

# CNAME chain: the chain first, then the target's records.
out=$(echo c1.green.test | resolve --server "$good" 2>/dev/null)
[ "$(head -n 3 <<<"$out")" = $'c1.green.test\tCNAME\t61\tc2.green.test
c2.green.test\tCNAME\t62\tc3.green.test
c3.green.test\tCNAME\t63\twww.green.test' ] || fail "CNAME chain order: $out"
[ "$(tail -n 2 <<<"$out" | sort)" = $'www.green.test\tA\t300\t192.0.2.10
www.green.test\tA\t300\t192.0.2.11' ] || fail "CNAME chain target: $out"

# A TXT record too big for UDP: only a TCP re-ask brings all 2000 bytes.
out=$(echo big.green.test | resolve --server "$good" -t TXT 2>/dev/null)
expected_big="big.green.test	TXT	700	"
for c in a b c d e f g h; do expected_big+="\"$(printf "%0250d" 0 | tr 0 $c)\" "; done
[ "$out" = "${expected_big% }" ] || fail "big TXT (TCP fallback) differs: ${out:0:120}..."

# PTR for IPv4 and IPv6 addresses.
out=$(printf '192.0.2.10\n2001:db8::10\n192.0.2.25\n' | resolve --server "$good" --ordered 2>/dev/null)
want=$'10.2.0.192.in-addr.arpa\tPTR\t1800\twww.green.test
0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa\tPTR\t1800\twww.green.test
25.2.0.192.in-addr.arpa\tPTR\t1800\tmail.green.test'
[ "$out" = "$want" ] || fail "PTR answers differ:\n$out"

# --addresses: the name as given and each final address, nothing else.
printf 'www.green.test\nc1.green.test\nnope.green.test\n192.0.2.99\n' >"$work/addr.txt"
out=$(resolve --server "$good" --addresses -t A,AAAA "$work/addr.txt" 2>"$work/err"); rc=$?
[ $rc -eq 1 ] || fail "--addresses with an NXDOMAIN exited $rc, want 1"
want=$'192.0.2.99\t192.0.2.99
c1.green.test\t192.0.2.10
c1.green.test\t192.0.2.11
c1.green.test\t2001:db8::10
www.green.test\t192.0.2.10
www.green.test\t192.0.2.11
www.green.test\t2001:db8::10'
[ "$(sort <<<"$out")" = "$want" ] || fail "--addresses output:\n$out"
err=$(echo www.green.test | resolve --server "$good" --addresses -t MX 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && grep -q -- '--addresses .*--type MX' <<<"$err" || fail "--addresses -t MX: rc $rc, $err"

# ---- outcomes --------------------------------------------------------------
printf 'nope.green.test\ntxtonly.green.test\ndangling.green.test\nwww.broken.test\n' >"$work/bad-outcomes.txt"
out=$(resolve --server "$good" --retries 0 "$work/bad-outcomes.txt" 2>"$work/err"); rc=$?
[ $rc -eq 1 ] || fail "names without answers exited $rc, want 1"
[ "$out" = $'dangling.green.test\tCNAME\t90\tmissing.green.test' ] || fail "dangling CNAME output: $out"
for want in 'nope.green.test A: NXDOMAIN' 'txtonly.green.test A: NODATA' 'dangling.green.test A: NXDOMAIN' \
  'www.broken.test A: SERVFAIL'; do
  grep -qx "green resolve: $want" "$work/err" || fail "stderr lacks '$want': $(cat "$work/err")"
done
grep -q 'NOERROR 0, NXDOMAIN 2, NODATA 1, SERVFAIL 1,' "$work/err" || fail "summary counts: $(tail -n 1 "$work/err")"

# A server that never answers: every name times out, the run still ends.
out=$(printf 'www.green.test\nmail.green.test\n' | resolve --server "$silent" --timeout 200ms --retries 1 2>"$work/err"); rc=$?
[ $rc -eq 1 ] || fail "silent server exited $rc, want 1"
[ -z "$out" ] || fail "silent server printed answers: $out"
[ "$(grep -c ': TIMEOUT$' "$work/err")" -eq 2 ] || fail "timeouts not reported: $(cat "$work/err")"
grep -q 'TIMEOUT 2' "$work/err" || fail "summary lacks TIMEOUT 2: $(tail -n 1 "$work/err")"

# SIGINT while queries wait: the run stops, the summary says so, exit 130.
silent_queue() { ss -uan | awk -v a="$silent" '$4 == a { print $2 }'; }
before=$(silent_queue)
"$green" resolve --no-progress --server "$silent" --timeout 30s "$work/a.txt" >/dev/null 2>"$work/err" &
pid=$!
# Its queries reaching the silent server show that its handlers are set.
for _ in $(seq 1 500); do [ "$(silent_queue)" != "$before" ] && break; sleep 0.02; done
kill -INT $pid
wait $pid; rc=$?
[ $rc -eq 130 ] || fail "SIGINT exited $rc, want 130"
grep -q 'interrupted; 3 queries not finished' "$work/err" || fail "no interrupted summary: $(cat "$work/err")"

# Two servers where the first refuses: everything is answered by the second.
out=$(printf 'www.green.test\nmail.green.test\n' | resolve --server "$refuser" --server "$good" 2>"$work/err"); rc=$?
[ $rc -eq 0 ] || fail "refuser then good exited $rc: $(cat "$work/err")"
[ "$(wc -l <<<"$out")" -eq 3 ] || fail "refuser then good: $out"
out=$(echo www.green.test | resolve --server "$refuser" 2>"$work/err"); rc=$?
[ $rc -eq 1 ] && grep -qx 'green resolve: www.green.test A: REFUSED' "$work/err" || fail "refuser alone: rc $rc, $(cat "$work/err")"
# A silent first server, then the good one.
out=$(echo mail2.green.test | resolve --server "$silent" --server "$good" --timeout 100ms --retries 0 2>"$work/err"); rc=$?
[ $rc -eq 0 ] && [ "$out" = $'mail2.green.test\tA\t121\t192.0.2.26' ] || fail "silent then good: rc $rc, $out"

# ---- bad input and usage errors ---------------------------------------------
long_label=$(printf 'x%.0s' $(seq 1 64)).green.test
long_name=$(for i in $(seq 1 26); do printf 'abcdefghi.'; done)test
printf 'www.green.test\na..b\n%s\n%s\nbad\001name.test\nmail.green.test\n' "$long_label" "$long_name" >"$work/bad.txt"
out=$(resolve --server "$good" "$work/bad.txt" 2>"$work/err"); rc=$?
[ $rc -eq 2 ] || fail "bad input lines exited $rc, want 2"
grep -qx "green resolve: $work/bad.txt:2: invalid name 'a..b': empty label" "$work/err" || fail "line 2 not reported: $(cat "$work/err")"
grep -q "^green resolve: $work/bad.txt:3: invalid name 'xxx.*': label longer than 63 bytes$" "$work/err" || fail "line 3 not reported"
grep -q "^green resolve: $work/bad.txt:4: invalid name '.*': name longer than 253 bytes$" "$work/err" || fail "line 4 not reported"
grep -qx "green resolve: $work/bad.txt:5: invalid name 'bad\\\\x01name.test': invalid byte 0x01" "$work/err" || fail "line 5 not reported: $(cat "$work/err")"
grep -q $'^mail.green.test\tA\t120\t192.0.2.25$' <<<"$out" || fail "the run did not go on after bad lines: $out"
grep -q '4 bad input lines' "$work/err" || fail "summary lacks the bad lines: $(tail -n 1 "$work/err")"

err=$(echo x.test | resolve --server "$good" -t A,BOGUS 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && grep -q "unknown record type 'BOGUS'" <<<"$err" || fail "bad --type: rc $rc, $err"
err=$(echo x.test | resolve --server 127.0.0.1:99999 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && grep -q "127.0.0.1:99999" <<<"$err" || fail "bad --server: rc $rc, $err"
err=$(echo x.test | resolve --server "$good" --timeout soon 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "bad --timeout exited $rc"
err=$(echo x.test | resolve --server "$good" --timeout 0 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && [ "$err" = 'green resolve: --timeout: 0ms is too short (want at least 1ms)' ] ||
  fail "--timeout 0: rc $rc, $err"
err=$(resolve --server "$good" "$work/no-such-file" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && grep -q "no-such-file" <<<"$err" || fail "missing input file: rc $rc, $err"

# ---- --json ------------------------------------------------------------------
printf 'www.green.test\nnope.green.test\n192.0.2.10\nbig.green.test\n' |
  resolve --server "$good" --json -t A,TXT >"$work/json" 2>"$work/err"
/usr/bin/python3 -c '
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
by = {(r["name"], r["type"]): r for r in rows}
assert len(rows) == 7, len(rows)
assert by[("www.green.test", "A")]["status"] == "NOERROR"
assert sorted(a["value"] for a in by[("www.green.test", "A")]["answers"]) == ["192.0.2.10", "192.0.2.11"]
assert all(a["ttl"] == 300 and a["type"] == "A" for a in by[("www.green.test", "A")]["answers"])
assert by[("www.green.test", "TXT")]["status"] == "NODATA" and by[("www.green.test", "TXT")]["answers"] == []
assert by[("nope.green.test", "A")]["status"] == "NXDOMAIN"
ptr = by[("192.0.2.10", "PTR")]
assert ptr["query"] == "10.2.0.192.in-addr.arpa" and ptr["answers"][0]["value"] == "www.green.test", ptr
big = by[("big.green.test", "TXT")]["answers"][0]["value"]
assert len(big) == 8 * 252 + 7, len(big)
' "$work/json" || fail "--json output is not what the zone says: $(cat "$work/json")"

# ---- 100,000 names streamed through a pipe, none lost -------------------------
# 95% exist (each with its own address), 5% do not. -c 100 keeps Knot's
# socket buffer from overflowing on a busy machine (see bench/RESULTS.md).
awk -v n=$bulk 'BEGIN { for (i = 0; i < n; i++) if (i % 20 == 19) print "x" i ".nx.bulk.test"; else print "h" i ".bulk.test" }' |
  resolve --server "$good" -c 100 --retries 3 >"$work/bulk.out" 2>"$work/bulk.err"
rc=$?
[ $rc -eq 1 ] || fail "bulk run exited $rc, want 1 (5% NXDOMAIN)"
bad=$(awk -F'\t' '{ i = substr($1, 2, index($1, ".") - 2) + 0
  want = sprintf("10.%d.%d.%d", int(i / 65536), int(i / 256) % 256, i % 256)
  if ($2 != "A" || $3 != 3600 || $4 != want || i % 20 == 19) bad++ } END { print bad + 0 }' "$work/bulk.out")
[ "$bad" -eq 0 ] || fail "$bad bulk answers do not match their names"
[ "$(cut -f1 "$work/bulk.out" | sort -u | wc -l)" -eq 95000 ] || fail "bulk: $(wc -l <"$work/bulk.out") answers, want 95000 distinct names"
[ "$(grep -c ': NXDOMAIN$' "$work/bulk.err")" -eq 5000 ] || fail "bulk: NXDOMAIN reports $(grep -c NXDOMAIN "$work/bulk.err"), want 5000"
grep -q '^green resolve: 100000 names, 100000 queries, 95000 answers, NOERROR 95000, NXDOMAIN 5000, NODATA 0, SERVFAIL 0, REFUSED 0, TIMEOUT 0, ERROR 0;' "$work/bulk.err" ||
  fail "bulk summary: $(tail -n 1 "$work/bulk.err")"

# ---- --ordered keeps input order -----------------------------------------------
awk 'BEGIN { for (i = 9999; i >= 0; i--) print "h" i ".bulk.test" }' >"$work/order.txt"
resolve --server "$good" -c 100 --retries 3 --ordered "$work/order.txt" 2>/dev/null | cut -f1 >"$work/order.out"
cmp -s "$work/order.txt" "$work/order.out" || fail "--ordered output is not in input order"
resolve --server "$good" -c 100 --retries 3 "$work/order.txt" 2>/dev/null | cut -f1 | sort >"$work/unordered.out"
sort "$work/order.txt" | cmp -s - "$work/unordered.out" || fail "unordered output lost or added names"

# ---- --shard I/N: disjoint parts that together make the whole ------------------
head -n 3000 "$work/order.txt" >"$work/shard.txt"
for i in 1 2 3; do resolve --server "$good" --shard "$i/3" "$work/shard.txt" 2>/dev/null | cut -f1 >"$work/shard.$i"; done
[ "$(cat "$work/shard.1" "$work/shard.2" "$work/shard.3" | sort)" = "$(sort "$work/shard.txt")" ] ||
  fail "--shard 1/3..3/3 do not add up to the input"
for i in 1 2 3; do [ -s "$work/shard.$i" ] || fail "--shard $i/3 got nothing"; done

# ---- a closed stdout ends the run quietly ----------------------------------------
resolve --server "$good" "$work/order.txt" 2>/dev/null | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] || fail "resolve | head exited $rc"

if [ $failures -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all resolve checks passed"
