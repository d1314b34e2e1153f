/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The policy maps (contract: include/agentwatch/policy.h). Every key starts with the bank of a
 * generation; maps hold two banks, both full between reloads.
 */
#ifndef AGENTWATCH_POLICY_MAPS_BPF_H
#define AGENTWATCH_POLICY_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <agentwatch/policy.h>

/*
 * Two banks of 100 k rules and then some. A hash map has max_entries buckets (16 bytes each:
 * 16 MiB here, elements allocated as used); with both banks full a quarter of them is in use,
 * so a lookup seldom reads an element that is not its own (which would cost a cache miss).
 */
#define AW_POLICY_MAX_ENTRIES 1048576

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aw_policy_config);
} policy_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 1024);
	__type(key, struct aw_policy_slot_key);
	__type(value, __u32); /* policy set id */
} policy_of_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 1024);
	__type(key, struct aw_policy_set_key);
	__type(value, struct aw_policy_defaults);
} policy_defaults SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AW_POLICY_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aw_file_key);
	__type(value, struct aw_rule_val);
} file_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aw_inode_key);
	__type(value, struct aw_rule_val);
} file_inodes SEC(".maps");

/* Directories rules name, by identity: their canonical name's hash state (policy.h, "Anchors"). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aw_inode_key);
	__type(value, struct aw_file_anchor);
} file_anchors SEC(".maps");

/* What each rule decides, per bank: index bank * AW_RULES_MAX + rule_id (policy.h, "Verdicts"). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * AW_RULES_MAX);
	__type(key, __u32);
	__type(value, struct aw_rule_verdict);
} rule_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct aw_glob_key);
	__type(value, struct aw_name_glob);
} name_globs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct aw_binset_key);
	__type(value, __u8);
} binsets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aw_net_key);
	__type(value, struct aw_net_val);
} net_rules SEC(".maps");

/* Files the agent itself wrote: exec of them is refused under AW_DEF_DENY_AGENT_WRITTEN_EXEC. */
struct aw_written_key {
	__u32 slot;
	__u32 dev;
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct aw_written_key);
	__type(value, __u8);
} agent_written SEC(".maps");

#endif /* AGENTWATCH_POLICY_MAPS_BPF_H */
