// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * default.bpf.c -- the object `ebpf-examples inspect` shows when given no FILE.
 *
 * One object with the range of what ebpf-spec reads:
 *   - legacy SEC("maps") definitions in iproute2's 36-byte `struct bpf_elf_map`
 *     (type, size_key, size_value, max_elem, flags, id, pinning, inner_id,
 *     inner_idx): `tc_pinned` pinned PIN_GLOBAL_NS (2); `tc_outer`, an
 *     ARRAY_OF_MAPS with inner_id 7; `tc_inner`, an ARRAY with id 7 and
 *     inner_idx 0 (so tc_outer[0] = tc_inner, and tc_inner is the template);
 *   - BTF-defined SEC(".maps") maps: `flows`, a HASH with __type key and value
 *     structs; `events`, a RINGBUF; `outer`, an ARRAY_OF_MAPS with
 *     __array(values, struct inner_def) and the static initialiser
 *     `.values = { [0] = &inner1, [2] = &inner2 }`; `jump_table`, a PROG_ARRAY
 *     initialised with the tail-call targets `xdp_tail` and `xdp_drop`;
 *   - data sections: `.data` (blocked_port = 53), `.rodata`
 *     (`const volatile __u32 sample_rate = 7;`) and `.bss` (total_packets);
 *   - programs: `xdp_main` (xdp, tail-calls through jump_table), `xdp_tail` and
 *     `xdp_drop` (xdp, the tail-call targets), `tc_main` (tc, SCHED_CLS),
 *     `sock_main` (socket filter), all calling the non-inlined sub-program
 *     `account` in .text; license "Dual MIT/GPL".
 *
 * Built by ./build.sh (Debian clang 14.0.6, -target bpfel -g -O2, then
 * `llvm-strip -g`: the DWARF goes, .BTF and .BTF.ext stay).
 *
 * Checked on Linux 6.18.44 x86_64 as root (not part of the build):
 *   1. default.bpfel.o itself, with a throw-away raw bpf(2) loader written on
 *      the spec ebpf-spec parses from it (no BTF loaded; maps created from the
 *      MapSpecs, map-in-map from their inner template, contents written,
 *      .rodata frozen, the .text sub-program appended and its calls fixed):
 *      all 12 maps are created (tc_outer with tc_inner as template), outer
 *      holds keys [0, 2], tc_outer [0], jump_table [0, 1], and all five
 *      programs pass the verifier (BPF_PROG_LOAD, log_level 1);
 *   2. the variant without the legacy section (EXTRA_CFLAGS=-DNO_LEGACY_MAPS
 *      ./build.sh; libbpf 1.x refuses SEC("maps")) with bpftool v7.1.0
 *      `prog loadall OBJ DIR pinmaps DIR` on a private bpffs: all five
 *      programs load and pin, `bpftool map dump` shows outer keys [0, 2] and
 *      jump_table keys [0, 1].
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* ---------------------------------------------------------------- legacy maps */

#ifndef NO_LEGACY_MAPS
#define PIN_NONE	0
#define PIN_GLOBAL_NS	2
#define INNER_ID	7

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

struct bpf_elf_map SEC("maps") tc_pinned = {
	.type = BPF_MAP_TYPE_HASH,
	.size_key = 4,
	.size_value = 8,
	.max_elem = 64,
	.pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map SEC("maps") tc_inner = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = 4,
	.size_value = 4,
	.max_elem = 1,
	.id = INNER_ID,
	.pinning = PIN_NONE,
	.inner_idx = 0,
};

struct bpf_elf_map SEC("maps") tc_outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = 4,
	.size_value = 4,
	.max_elem = 2,
	.pinning = PIN_NONE,
	.inner_id = INNER_ID,
};
#endif

/* ---------------------------------------------------------------- BTF maps */

struct flow_key {
	__u32 addr;
	__u16 port;
	__u16 proto;
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct inner_def {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 4);
};

struct inner_def inner1 SEC(".maps");
struct inner_def inner2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_def);
} outer SEC(".maps") = {
	.values = { [0] = &inner1, [2] = &inner2 },
};

int xdp_tail(struct xdp_md *ctx);
int xdp_drop(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = { [0] = (void *)&xdp_tail, [1] = (void *)&xdp_drop },
};

/* ---------------------------------------------------------------- globals */

__u32 blocked_port = 53;		/* .data */
const volatile __u32 sample_rate = 7;	/* .rodata */
__u64 total_packets;			/* .bss */

/* ---------------------------------------------------------------- .text */

/* Counts a packet; returns 1 for every sample_rate-th one. Not inlined: a
 * bpf-to-bpf call from every program. */
static __attribute__((noinline)) int account(__u32 len)
{
	__u64 n = __sync_fetch_and_add(&total_packets, 1);
	struct flow_key key = { .addr = len, .port = (__u16)blocked_port };
	struct flow_stats *st = bpf_map_lookup_elem(&flows, &key);

	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, len);
	}
	return sample_rate && n % sample_rate == 0;
}

/* ---------------------------------------------------------------- programs */

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 zero = 0;
	__u32 *v;
	void *inner;

	if (len < ETH_HLEN)
		return XDP_ABORTED;
	inner = bpf_map_lookup_elem(&outer, &zero);
	if (inner) {
		v = bpf_map_lookup_elem(inner, &zero);
		if (v && *v == len)
			return XDP_DROP;
	}
	if (account(len))
		bpf_tail_call(ctx, &jump_table, len & 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_tail(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("tc")
int tc_main(struct __sk_buff *skb)
{
	account(skb->len);
#ifndef NO_LEGACY_MAPS
	__u32 key = skb->ifindex;
	__u64 *seen = bpf_map_lookup_elem(&tc_pinned, &key);
	void *inner;
	__u32 *v;
	__u32 zero = 0;

	if (seen && *seen > 100)
		return TC_ACT_SHOT;
	inner = bpf_map_lookup_elem(&tc_outer, &zero);
	if (inner) {
		v = bpf_map_lookup_elem(inner, &zero);
		if (v && *v == key)
			return TC_ACT_SHOT;
	}
#endif
	return TC_ACT_OK;
}

SEC("socket")
int sock_main(struct __sk_buff *skb)
{
	__u32 len = skb->len;

	if (account(len))
		bpf_ringbuf_output(&events, &len, sizeof(len), 0);
	return skb->len;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
