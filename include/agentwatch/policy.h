/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
// Policy: the rule -> map contract between the compiler (user/policy_*.c, YAML -> image) and the
// enforcement programs (bpf/policy*.bpf.*). Whoever changes either side reads this first.
//
// ==== Generations: the atomic switch ====
// `policy_config[0].gen` is the active generation (0: no policy was ever applied), a counter
// that a reload increments (from 0xffffffff to 2, skipping 0 and keeping the parity alternate).
// Every key below starts (net_rules: after prefixlen) with a `gen` field that holds the bank of
// a generation, AW_POLICY_BANK(gen) = gen & 1: the maps hold two banks, and consecutive
// generations alternate between them. The BPF side reads policy_config[0] once per decision and
// looks up only keys of its bank. Between reloads both banks hold the policy in force. A reload:
//   1. writes into the other bank (not in use: no decision reads it) only what differs from what
//      that bank holds: new and changed records are written, records gone are deleted. The
//      records found on the file system (file_inodes, file_anchors) are found anew by every
//      reload and compared the same way;
//   2. flips policy_config[0] to gen + 1 with one map update: the new generation is in force;
//   3. waits for an RCU grace period (every policy program is non-sleepable, so none still
//      decides with the old policy_config), then brings the old bank to the new image too, so
//      that the next reload again writes only its differences.
// A decision sees the old policy or the new one, never a mix, and never neither. A reload
// costs in proportion to what changed (a rule edited in place; rules appended). What a rule
// decides lives in one place, its `rule_verdicts` entry ("Verdicts"), so a reload that changes
// only actions or modes (a policy flipped from `mode: audit` to `mode: enforce`, deny edited
// to allow) writes one 4-byte array entry per rule and no record; an edit that renumbers rules
// (ids are positional) or agents' sets rewrites the records that carry them, and one that
// changes every path rewrites every record. Maps are sized for two banks.

// ==== Which rules apply to a task ====
// struct aw_agent.policy_id (agent.h) is not used for this; `policy_of_slot` maps
// {gen, agent slot} -> policy set id, so a reload can re-select agents atomically too. A policy
// set is the merge of every policy whose selector matches the agent (rules/README.md, "Merging").
// Keys carry the set id, so one map serves all agents. No entry = no policy: allow, no events
// beyond observation.
//
// ==== Files and exec: path patterns without a per-rule loop ====
// The kernel resolves the canonical path of the struct path (bpf/path.bpf.h), then hashes it
// once, left to right, with 64-bit FNV-1a (aw_fnv1a_step below; the compiler uses the same):
//   D(dir)   hash of each directory prefix: D("") for "/", then "/a", "/a/b", ...
//   H(path)  hash of the whole path
//   the basename's hash, and the hashes of its first and last L bytes for each L in
//   policy_config.prefix_lens / suffix_lens (at most AW_NAME_LENS distinct lengths each).
// Each pattern compiles to one key kind:
//   pattern                 kind                 key.hash
//   /a/b/c                  AW_FK_EXACT          H("/a/b/c")
//   /a/b/** (and /a/b/)     AW_FK_SUBTREE        D("/a/b")  (+ an EXACT entry for /a/b itself)
//   /a/b/*                  AW_FK_CHILD_ANY      D("/a/b")
//   /a/b/id_*               AW_FK_CHILD_PREFIX   mix(D("/a/b"), L=3, fnv("id_"))
//   /a/b/*.pem              AW_FK_CHILD_SUFFIX   mix(D("/a/b"), L=4, fnv(".pem"))
//   /a/b/id_?sa, [ab]*x     AW_FK_CHILD_GLOB     D("/a/b")      value.glob: index in name_globs
//   /a/**/.env             AW_FK_UNDER_NAME     mix(D("/a"), 0, fnv(".env"))
//   /a/**/.env*            AW_FK_UNDER_PREFIX   mix(D("/a"), L=4, fnv(".env"))
//   /a/**/*.pem, **/*.pem  AW_FK_UNDER_SUFFIX   mix(D("/a") or D(""), L=4, fnv(".pem"))
// A decision does: 1 EXACT lookup; for each
// ancestor directory d (depth bounded by AW_PATH_DEPTH) 1 SUBTREE + 1 UNDER_NAME + one
// UNDER_PREFIX/UNDER_SUFFIX per configured length; for the parent 1 CHILD_ANY + 1 CHILD_GLOB +
// one CHILD_PREFIX/SUFFIX per length. The count depends on path depth and on the number of
// distinct prefix/suffix lengths, never on the number of rules. Wildcards other than one `**`
// are allowed only in the last segment; the compiler rejects the rest with file:line:col.
//
// Protected files are matched by identity too: for every EXACT or SUBTREE deny rule, the files
// that exist when the policy is applied get a `file_inodes` entry {gen, set, dev, ino} with the
// same value, so a hardlink, bind mount, chroot or namespace alias of the same inode hits the
// rule whatever its name. A file created later gets no inode entry: it is matched by its name,
// path_link and path_rename decide on the source's canonical name (so it cannot be linked or
// moved out of that name), and aliases of its directory are caught by anchors (below).
// Any-depth deny rules (UNDER_*, e.g. `**/.env*`) name files anywhere below a directory, so
// their files are not looked up one by one: a file with one name is matched by that name, and
// only a file with several (a hard link made before the policy was applied, such as
// /tmp/x/notes.txt of /srv/other/.env) can be reached under a name no pattern covers. The
// applier keeps an inventory of the regular files with st_nlink > 1 below the rules'
// directories (user/policy_links.h: one walk per directory and process, cached across reloads;
// pseudo file systems are not entered; bounded, with a truncation reported), and gives those
// whose name the rule matches the same entry, minus what an except cancels (a workspace .env
// gets none). Limits: an operator may narrow the walk (`--link-scan DIR|none`, config
// `linkScan:`), leaving links elsewhere to their names; a link made after the walk by a process
// no policy confines is not seen until the next start (such a process could read the file
// itself); a confined agent cannot make one, since path_link decides on the source's name.
// A file with several protected names gets one entry holding the references of all of them.
// The references of a file_inodes value carry AW_REF_IDENTITY: an except: of the name the file
// is reached by does not cancel them ("Deciding", step 2). The excepts of the protected name
// itself were applied when the value was made, so the workspace's own .env stays free, but a
// premade hard link of another project's .env inside the workspace, or of ~/.ssh/id_rsa as
// ~/.ssh/x.pub, is still that file and is refused.
//
// ==== Anchors: the canonical name of a directory, whatever mount it is reached through ====
// An inode entry covers only files that existed at apply time. A key written later in ~/.ssh,
// read through a bind mount of ~/.ssh (or an open_tree() clone of it) made before, has a
// path no pattern names and an inode no entry names. Anchors close that: for every file_rules
// record holding a DENY or AUDIT reference, the applier stat()s the record's directory
// (EXACT: the parent of its path) and, when it does not exist, its nearest existing ancestor
// below "/", and writes `file_anchors` {gen, set, dev, ino} (key layout: aw_inode_key; gen is
// the bank, as in every key) = struct aw_file_anchor: the hash state of that directory's
// canonical name as the rules spell it (h = H(dir), and D() of each of its ndirs levels).
// The kernel walks the opened file's dentries up to the root anyway (bpf/path.bpf.h); at each
// proper ancestor it looks the dentry's inode up in file_anchors (one lookup per level: the
// cost grows with depth, never with rules) and keeps the first (deepest) hit. A bind mount
// and an open_tree() clone share dentries and inodes with the original, so the hit comes
// whatever path the mount has, or none. The decision is then taken twice:
//   1. on the path as walked (the name the agent used), with the inode entry, as above;
//   2. on the canonical name: the hash pass starts from the anchor's state and continues over
//      the rest of the walked path below the anchor ("/id_late" of ".../bind-ssh/id_late");
//      skipped when the walked prefix already hashes to H(dir) (no alias: the common case);
// and the stronger decision wins (the order of "Deciding" step 3, then the lower rule_id).
// Anchors never allow what the walked name denies. The reference matcher decides names; for a
// file reached through an alias it takes the kernel's decision with
// policy_image__decide_file_alias(walked path, length of the rest, canonical dir), and
// policy_anchor__each() (user/policy_apply.h) lists the anchors an apply writes; the
// differential test (tests/bpf/policy_match.sh) checks both against the kernel.
// Example: HOME=/home/ada, rule ssh-keys "${HOME}/.ssh/**/*" (SUBTREE D("/home/ada/.ssh")),
// ~/.ssh is inode (8:1, 4242) and is bind-mounted on /mnt/s. Applied as generation 7 (bank 1),
// set 1:
//   file_anchors[{1, 1, 4242, 8:1}] = {h = H("/home/ada/.ssh"), ndirs 3,
//                                      dirs = {D(""), D("/home"), D("/home/ada")}}
// The user then writes ~/.ssh/id_new; cat /mnt/s/id_new walks "id_new", then the .ssh dentry
// (the bind mount's root): hit, rest "/id_new". Pass 1 on "/mnt/s/id_new" matches nothing;
// pass 2 hashes "/id_new" from H("/home/ada/.ssh"), so SUBTREE D("/home/ada/.ssh") hits:
// -EPERM, rule ssh-keys, and the event names /mnt/s/id_new.
// Anchors and reloads ("Generations"): the anchors are those of the file system at the last
// apply. Each reload stat()s the directories again and writes, into the spare bank and after
// the switch into the old one, only the anchors that changed: a directory no rule names any
// more, or one removed since, loses its anchor; one made since (~/.aws, anchored on ~ while it
// did not exist) gets its own. Only the applier writes file_anchors (no BPF program does), so
// both banks hold the same anchors between reloads; a decision looks them up in its own bank
// (key gen = AW_POLICY_BANK(policy_config.gen)), like every other key.
//
// ==== Values: a few rule references per key ====
// struct aw_rule_val holds up to AW_RULE_REFS references. A reference says WHETHER a rule
// applies to the path: rule_id, access, binary condition, EXCEPT. It does not say what the rule
// decides: that is the rule's verdict (below), so the same rule's references are identical
// wherever they appear, and the compiler merges identical ones and rejects a key that would
// need more. A reference applies when (ref.access & requested) != 0 and its binary condition
// holds: binset 0 = any binary; otherwise the current task's executable path hash must
// (AW_REF_BIN_ONLY) or must not (AW_REF_BIN_EXCEPT) be in `binsets` {gen, binset, H(exe path)}.
// AW_REF_EXCEPT marks an exception: it cancels rule `rule_id` for this path ("except:" in YAML)
// and decides nothing by itself (it has no verdict lookup). aw_rule_ref.pad is 0.
//
// ==== Verdicts: what each rule decides, one array entry per rule ====
// `rule_verdicts` is an ARRAY of 2 * AW_RULES_MAX struct aw_rule_verdict: entry
// AW_POLICY_BANK(gen) * AW_RULES_MAX + rule_id holds rule rule_id's action (AW_ACT_ALLOW,
// AW_ACT_AUDIT or AW_ACT_DENY, as written) and flags (AW_REF_AUDIT_MODE: its policy is in audit
// mode) in that bank. The index is the key: its bank part (index / AW_RULES_MAX) plays the
// role of every other key's gen field, and the applier writes and diffs it like any record.
// Rule ids are the collection's rules numbered 1..n in order (every rule, whatever its list),
// so they index the array directly; pseudo ids (AW_RULE_DEFAULT, ...) never appear in a
// reference, and the compiler rejects a collection of more than AW_RULES_MAX - 1 rules. Every
// rule id 1..n of the image gets its entry; entries of ids beyond n (a shorter rule set) are
// written zero, which is how an array entry is "deleted". So a referenced rule always has a
// verdict in the bank its reference was found in, written before the switch made that bank
// visible (by construction); a zero or out-of-range verdict seen anyway fails closed like a
// reference overflow: DENY, AW_RULE_DEFAULT. An array lookup is inlined by the verifier: a
// verdict costs a bounds check and a load per applicable reference.
// file_inodes values keep only the references of rules whose verdict is DENY at apply time
// (policy_image__inode_value); every reload computes them afresh from its image, so a rule
// edited from deny to allow or audit loses its inode entries in the same reload.
//
// ==== Deciding ====
//   1. collect every applicable reference from every lookup above;
//   2. drop references whose rule an applicable EXCEPT reference cancels (except those with
//      AW_REF_IDENTITY: an inode entry is the file itself, whatever name reached it);
//   3. the strongest action wins, each reference's action read from its rule's verdict:
//      DENY > AUDIT > ALLOW (a deny always beats an allow, across policies and within one);
//   4. no DENY or AUDIT and no ALLOW matched: the list's default posture for the set
//      (policy_config is per node; `policy_defaults` {gen, set}), rule_id AW_RULE_DEFAULT;
//   5. a DENY whose rule's verdict has AW_REF_AUDIT_MODE (its policy is in audit mode) is
//      reported as "would block" and allowed.
// The event names the deciding rule by rule_id; userspace maps ids to names from the image.
//
// ==== Network ====
// `net_rules` is an LPM trie keyed {prefixlen, gen, set, addr[16]}: prefixlen counts the 64 bits
// of gen and set plus the address bits. IPv4 rules and destinations use the IPv4-mapped form
// ::ffff:a.b.c.d (prefix length + 96), so an IPv4-mapped IPv6 or NAT64 (64:ff9b::/96)
// destination is looked up as the IPv4 address it carries. Because an LPM lookup returns only
// the longest match, the compiler copies every rule of a shorter covering prefix into each
// longer entry: one lookup finds every rule that can apply. A value holds up to AW_NET_REFS
// {port range, protocol, rule_id}; what each decides is its rule's verdict (rule_verdicts, as
// for files), and the deciding order is that of files.
// Raw IP sockets are decided on the kernel's copy of the destination address for every port and
// protocol (AW_PORT_ANY below); packets whose destination is user data (AF_PACKET, IP_HDRINCL)
// are refused outright where some egress is denied (AW_DEF_DENY_RAW_PACKETS).
//
// ==== Syscall classes ====
// policy_defaults {gen, set}.syscall_deny is the bitmask of AW_SC_* classes denied, and
// .syscall_audit_mode those of them whose deny comes from an audit-mode policy. A class
// decision names AW_RULE_SYSCALL_CLASS(bit) in its event; the image keeps which rule it was.
//
// ==== Worked examples (set 1, generation 7: bank 1) ====
// 1. files: [{name: ssh-keys, path: "${HOME}/.ssh/id_*", access: [read], action: deny,
//             binaries: {except: [/usr/bin/ssh]}}]   with HOME=/home/ada
//    -> file_rules[{1, 1, AW_FK_CHILD_PREFIX, mix(D("/home/ada/.ssh"), 3, fnv("id_"))}] =
//         { refs[0] = {rule_id 1, AW_ACC_READ, AW_REF_BIN_EXCEPT, binset 1} }
//       rule_verdicts[1 * AW_RULES_MAX + 1] = {DENY, 0}
//       binsets[{1, 1, H("/usr/bin/ssh")}] = 1
//       prefix_lens gains 3; and for each existing /home/ada/.ssh/id_* file:
//       file_inodes[{1, 1, dev, ino}] = the same value.
//    cat ~/.ssh/id_rsa: the CHILD_PREFIX lookup hits, cat is not ssh, rule 1's verdict is
//    DENY -> -EPERM, rule ssh-keys. Its policy reloaded with `mode: audit` changes one entry,
//    rule_verdicts[0 * AW_RULES_MAX + 1] = {DENY, AW_REF_AUDIT_MODE} (generation 8, bank 0),
//    and no record: the same read is then allowed and reported as "would block".
// 2. files: [{name: aws, path: "${HOME}/.aws/**", action: deny}]  (access defaults to all)
//    -> file_rules[{1, 1, AW_FK_SUBTREE, D("/home/ada/.aws")}] and
//       file_rules[{1, 1, AW_FK_EXACT,  H("/home/ada/.aws")}] = {1 ref, rule 2, all access}
//       rule_verdicts[1 * AW_RULES_MAX + 2] = {DENY, 0}
// 3. network: [{name: metadata, cidr: 169.254.169.254/32, action: deny}]
//    -> net_rules[{96+32+64, 1, 1, ::ffff:169.254.169.254}] = {{0..65535, any, rule 3}}
//       rule_verdicts[1 * AW_RULES_MAX + 3] = {DENY, 0}
//    connect to [::ffff:169.254.169.254]:80 is looked up as 169.254.169.254 -> -EPERM.
// 4. network: [{name: lan, cidr: 10.0.0.0/8, action: deny},
//              {name: git, cidr: 10.1.2.0/24, ports: [22], action: allow}]   (rules 4 and 5)
//    -> {96+8+64, 10.0.0.0}  = {{all ports, rule 4 (lan)}}
//       {96+24+64, 10.1.2.0} = {{22..22, tcp+udp, rule 5 (git)}, {all ports, rule 4 (lan)}}
//       rule_verdicts[.. + 4] = {DENY, 0}, rule_verdicts[.. + 5] = {ALLOW, 0}
//    10.1.2.3:22 finds the /24 entry, which carries both rules: deny beats allow -> denied.
//    To let port 22 through, the deny must not cover it: write narrower deny rules.

#ifndef AGENTWATCH_POLICY_H
#define AGENTWATCH_POLICY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include <agentwatch/event.h> /* AW_ACC_*, AW_PATH_DEPTH */

/*
 * Matcher bounds that change decisions, shared by the kernel and the reference matcher:
 * references one decision collects (beyond them it fails closed: DENY, AW_RULE_DEFAULT) and
 * directory levels looked up (the root, then one per component of the parent, AW_PATH_DEPTH).
 */
#define AW_MATCH_REFS	 16
#define AW_POLICY_LEVELS (AW_PATH_DEPTH + 1)

/* The bank of generation `gen` that keys carry (see "Generations"). */
#define AW_POLICY_BANK(gen) ((gen)&1U)

/*
 * Rule ids index rule_verdicts per bank: ids 1..AW_RULES_MAX - 1 (the compiler rejects more
 * rules). Two banks of 4-byte verdicts: 2 MiB.
 */
#define AW_RULES_MAX 262144

#define AW_RULE_REFS	      4
#define AW_NET_REFS	      8
#define AW_NAME_LENS	      4	 /* distinct prefix (and suffix) lengths in name patterns */
#define AW_NAME_GLOB_MAX      64 /* longest name glob evaluated in the kernel */
#define AW_NAME_GLOBS	      4	 /* name globs per directory key */
#define AW_RULE_DEFAULT	      0xffffffffU /* rule_id of a default-posture decision */
#define AW_RULE_AGENT_WRITTEN 0xfffffffeU /* AW_DEF_DENY_AGENT_WRITTEN_EXEC refused it */
#define AW_RULE_MEMFD	      0xfffffffdU /* AW_DEF_DENY_MEMFD_EXEC refused it */
#define AW_RULE_RAW_PACKETS   0xfffffffcU /* AW_DEF_DENY_RAW_PACKETS refused it */
/* Syscall class denials name the class, not a rule: AW_RULE_SYSCALL_CLASS(bit of AW_SC_*). */
#define AW_RULE_SYSCALL_CLASS(bit) (0xffffff00U + (bit))

/* Actions, weakest first: the strongest applicable one decides. */
enum {
	AW_ACT_NONE = 0,
	AW_ACT_ALLOW = 1,
	AW_ACT_AUDIT = 2,
	AW_ACT_DENY = 3,
};

/* Access bits of file rules (event.h's AW_ACC_* read/write/create/trunc/exec, plus these). */
#define AW_ACC_DELETE (1U << 5)
#define AW_ACC_RENAME (1U << 6)
#define AW_ACC_LINK   (1U << 7)
#define AW_ACC_ALL    0xffU

/* aw_rule_ref.flags */
#define AW_REF_EXCEPT	  (1U << 0) /* cancels rule_id for this path */
#define AW_REF_BIN_ONLY	  (1U << 1) /* applies only to binaries in binset */
#define AW_REF_BIN_EXCEPT (1U << 2) /* applies to every binary but those in binset */
/* file_inodes only: found by the file's identity, which no except: of a name cancels */
#define AW_REF_IDENTITY (1U << 4)
/* aw_rule_verdict.flags (never in a reference): its policy is in audit mode, a deny only
 * "would block" */
#define AW_REF_AUDIT_MODE (1U << 3)

enum {
	AW_FK_EXACT = 1,
	AW_FK_SUBTREE = 2,
	AW_FK_CHILD_ANY = 3,
	AW_FK_CHILD_PREFIX = 4,
	AW_FK_CHILD_SUFFIX = 5,
	AW_FK_CHILD_GLOB = 6,
	AW_FK_UNDER_NAME = 7,
	AW_FK_UNDER_PREFIX = 8,
	AW_FK_UNDER_SUFFIX = 9,
};

/* Syscall classes (AW_SC_*), a bitmask in aw_policy_defaults.syscall_deny. */
#define AW_SC_BPF	      (1U << 0)
#define AW_SC_PTRACE	      (1U << 1) /* other than the agent's own descendants */
#define AW_SC_MOUNT	      (1U << 2) /* mount and umount */
#define AW_SC_MODULE	      (1U << 3) /* init_module, finit_module */
#define AW_SC_KEXEC	      (1U << 4)
#define AW_SC_PERF_EVENT_OPEN (1U << 5)
#define AW_SC_USERNS	      (1U << 6) /* user namespace creation */

struct aw_policy_config {
	__u32 gen; /* the active generation */
	__u8 n_prefix_lens;
	__u8 n_suffix_lens;
	__u8 prefix_lens[AW_NAME_LENS];
	__u8 suffix_lens[AW_NAME_LENS];
	__u8 pad[2];
};
_Static_assert(sizeof(struct aw_policy_config) == 16, "aw_policy_config wire size");

struct aw_policy_slot_key {
	__u32 gen;
	__u32 slot;
};
_Static_assert(sizeof(struct aw_policy_slot_key) == 8, "aw_policy_slot_key wire size");

/* policy_defaults value: the default posture of each list, AW_ACT_*. */
struct aw_policy_defaults {
	__u8 files;
	__u8 exec;
	__u8 network;
	__u8 flags;		  /* AW_DEF_* */
	__u32 syscall_deny;	  /* AW_SC_* classes denied */
	__u32 syscall_audit_mode; /* AW_SC_* classes whose deny comes from an audit-mode policy */
	__u32 pad;
};
_Static_assert(sizeof(struct aw_policy_defaults) == 16, "aw_policy_defaults wire size");

/* aw_policy_defaults.flags */
#define AW_DEF_DENY_AGENT_WRITTEN_EXEC (1U << 0) /* no exec of files the agent wrote */
#define AW_DEF_DENY_MEMFD_EXEC	       (1U << 1) /* no exec of memfd or anonymous files */
#define AW_DEF_REQUIRE_LSM	       (1U << 2) /* refuse to apply without BPF-LSM */
#define AW_DEF_AUDIT_MODE	       (1U << 3) /* default-posture denies only "would block" */
#define AW_DEF_FALLBACK_KILL	       (1U << 4) /* where the kernel cannot deny: SIGKILL, not audit */
/*
 * Some egress is denied (an enforcing policy has a network deny rule or default): no packets
 * whose destination the kernel cannot see, so no rule can be checked. Refused at socket_create
 * (AF_PACKET; SOCK_RAW with IPPROTO_RAW, which implies IP_HDRINCL), socket_setsockopt (IP_HDRINCL,
 * IPV6_HDRINCL) and, for such sockets made outside the agent, socket_connect and socket_sendmsg;
 * rule_id AW_RULE_RAW_PACKETS. Raw sockets of a protocol without IP_HDRINCL are decided by
 * address (AW_PORT_ANY).
 */
#define AW_DEF_DENY_RAW_PACKETS (1U << 5)

struct aw_policy_set_key {
	__u32 gen;
	__u32 set;
};
_Static_assert(sizeof(struct aw_policy_set_key) == 8, "aw_policy_set_key wire size");

/* Whether rule rule_id applies; what it decides is its verdict (rule_verdicts). */
struct aw_rule_ref {
	__u32 rule_id; /* 0 = empty */
	__u8 pad;      /* 0 */
	__u8 access;   /* AW_ACC_* bits it applies to */
	__u8 flags;    /* AW_REF_EXCEPT, AW_REF_BIN_ONLY, AW_REF_BIN_EXCEPT, AW_REF_IDENTITY */
	__u8 binset;   /* 0 = any binary */
};
_Static_assert(sizeof(struct aw_rule_ref) == 8, "aw_rule_ref wire size");

/* rule_verdicts value, index AW_POLICY_BANK(gen) * AW_RULES_MAX + rule_id ("Verdicts"). */
struct aw_rule_verdict {
	__u8 action; /* AW_ACT_ALLOW, AW_ACT_AUDIT or AW_ACT_DENY; 0: no such rule */
	__u8 flags;  /* AW_REF_AUDIT_MODE */
	__u8 pad[2];
};
_Static_assert(sizeof(struct aw_rule_verdict) == 4, "aw_rule_verdict wire size");

struct aw_rule_val {
	struct aw_rule_ref refs[AW_RULE_REFS];
	__u8 globs[AW_NAME_GLOBS]; /* AW_FK_CHILD_GLOB: name_globs indexes + 1, 0 = none */
	__u32 pad;
};
_Static_assert(sizeof(struct aw_rule_val) == 40, "aw_rule_val wire size");

struct aw_file_key {
	__u32 gen;
	__u32 set;
	__u32 kind; /* AW_FK_* */
	__u32 pad;
	__u64 hash;
};
_Static_assert(sizeof(struct aw_file_key) == 24, "aw_file_key wire size");

struct aw_inode_key {
	__u32 gen;
	__u32 set;
	__u64 ino;
	__u32 dev; /* kernel dev_t encoding (MKDEV) */
	__u32 pad;
};
_Static_assert(sizeof(struct aw_inode_key) == 24, "aw_inode_key wire size");

/* file_anchors value (key: aw_inode_key of the directory): see "Anchors" above. */
struct aw_file_anchor {
	__u64 h;     /* H(dir): the hash state before the rest's first '/' */
	__u32 ndirs; /* '/' characters in dir: its directory levels */
	__u32 pad;
	__u64 dirs[AW_POLICY_LEVELS]; /* D() of level i: dirs[0] = D(""), the root */
};
_Static_assert(sizeof(struct aw_file_anchor) == 408, "aw_file_anchor wire size");

/* name_globs key: AW_FK_CHILD_GLOB values name globs by index + 1. */
struct aw_glob_key {
	__u32 gen;
	__u32 index;
};
_Static_assert(sizeof(struct aw_glob_key) == 8, "aw_glob_key wire size");

/* name_globs value: one glob over a basename, with the rule references it carries. */
struct aw_name_glob {
	char glob[AW_NAME_GLOB_MAX];
	struct aw_rule_ref refs[AW_RULE_REFS];
};
_Static_assert(sizeof(struct aw_name_glob) == 96, "aw_name_glob wire size");

struct aw_binset_key {
	__u32 gen;
	__u32 binset;
	__u64 hash; /* H(executable path) */
};
_Static_assert(sizeof(struct aw_binset_key) == 16, "aw_binset_key wire size");

struct aw_net_key {
	__u32 prefixlen; /* 64 + address prefix bits (IPv4 as ::ffff:0:0/96 + n) */
	__u32 gen;
	__u32 set;
	__u8 addr[16];
};
_Static_assert(sizeof(struct aw_net_key) == 28, "aw_net_key wire size");

#define AW_PROTO_TCP (1U << 0)
#define AW_PROTO_UDP (1U << 1)
#define AW_PROTO_ANY (AW_PROTO_TCP | AW_PROTO_UDP)

/* Whether rule rule_id applies to a port and protocol; what it decides is its verdict. */
struct aw_net_ref {
	__u32 rule_id; /* 0 = empty */
	__u16 port_lo; /* host byte order, inclusive */
	__u16 port_hi;
	__u8 protos; /* AW_PROTO_* */
	__u8 pad[3]; /* 0 */
};
_Static_assert(sizeof(struct aw_net_ref) == 12, "aw_net_ref wire size");

struct aw_net_val {
	struct aw_net_ref refs[AW_NET_REFS];
};
_Static_assert(sizeof(struct aw_net_val) == 96, "aw_net_val wire size");

/*
 * The port of a raw IP socket's packet (SOCK_RAW): user data the kernel does not look at, so
 * it is decided as every port of every protocol: a DENY or AUDIT reference of the address
 * applies whatever its ports and protocols, an ALLOW only when it covers all of them. The
 * address is the kernel's copy of the destination (sendmsg's msg_name, connect's address).
 */
#define AW_PORT_ANY 0x10000U

/* Does `ref`, whose rule's verdict is `action`, apply to port and protocol bit `proto`? */
static inline int aw_net_ref_applies(const struct aw_net_ref *ref, __u8 action, __u32 port,
				     __u8 proto)
{
	if (port == AW_PORT_ANY) {
		if (action == AW_ACT_ALLOW)
			return ref->port_lo == 0 && ref->port_hi == 65535 &&
			       (ref->protos & AW_PROTO_ANY) == AW_PROTO_ANY;
		return (ref->protos & AW_PROTO_ANY) != 0;
	}
	return port >= ref->port_lo && port <= ref->port_hi && (ref->protos & proto);
}

/*
 * 64-bit FNV-1a, the one hash both sides use for paths and names. mix() folds a length and a
 * second hash into a directory hash for the name-pattern kinds.
 */
#define AW_FNV_OFFSET 0xcbf29ce484222325ULL
#define AW_FNV_PRIME  0x100000001b3ULL

static inline __u64 aw_fnv1a_step(__u64 h, __u8 c)
{
	return (h ^ c) * AW_FNV_PRIME;
}

static inline __u64 aw_hash_mix(__u64 dir, __u64 len, __u64 name)
{
	__u64 h = dir ^ 0x9e3779b97f4a7c15ULL;

	h = (h ^ len) * AW_FNV_PRIME;
	h = (h ^ (name & 0xffffffffULL)) * AW_FNV_PRIME;
	h = (h ^ (name >> 32)) * AW_FNV_PRIME;
	return h;
}

#endif /* AGENTWATCH_POLICY_H */
