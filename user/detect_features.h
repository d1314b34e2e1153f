/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the detector derives from an event's strings: sensitive path classes, the folded forms
 * of paths and command lines that make the same behaviour in two agents compare equal, and the
 * small tables (archive tools, writable directories) the sequence detectors use.
 */
#ifndef AGENTWATCH_DETECT_FEATURES_H
#define AGENTWATCH_DETECT_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

enum detect_path_class {
	DETECT_PC_NONE,
	DETECT_PC_SSH_KEY,    /* ~/.ssh/id_*, host keys, authorized_keys */
	DETECT_PC_CLOUD_CRED, /* ~/.aws, gcloud, azure, kube config, service-account tokens */
	DETECT_PC_ENV_FILE,   /* .env, .env.* */
	DETECT_PC_SHADOW,     /* /etc/shadow, gshadow, sudoers */
	DETECT_PC_BROWSER,    /* browser profiles: cookies, logins */
	DETECT_PC_TOKEN,      /* .git-credentials, .netrc, .npmrc, .pypirc, docker config */
	DETECT_PC_GPG,	      /* ~/.gnupg, password stores */
	DETECT_PC__COUNT,
};

const char *detect_path_class__name(enum detect_path_class c);
/* The sensitive class of a canonical path (no NUL needed), or DETECT_PC_NONE. */
enum detect_path_class detect_path__class(const char *path, size_t len);

/* Whether exec of this path is an archiver or compressor (tar, zip, 7z, gzip, ...). */
bool detect_path__is_archiver(const char *path, size_t len);
/* Whether the path is in a world-writable or cache directory (/tmp, /dev/shm, ~/.cache...). */
bool detect_path__is_writable_dir(const char *path, size_t len);
/* Writes to these mean persistence or staging: shell rc files, cron, systemd units, autostart. */
bool detect_path__is_persistence(const char *path, size_t len);
/* The last component. */
const char *detect_path__basename(const char *path, size_t len, size_t *out_len);

/*
 * Fold a path so that two agents' homes compare equal: /home/<user>/ and /root/ become ~/.
 * Writes a NUL-terminated string of at most size-1 bytes; returns its length.
 */
size_t detect_path__fold(const char *path, size_t len, char *out, size_t size);

/*
 * A command line's shape: home directories folded, runs of digits -> 'N', hex or base64-ish
 * tokens of 16+ characters -> 'H', whitespace collapsed, cut at size-1 bytes.
 */
size_t detect_cmd__shape(const char *cmd, size_t len, char *out, size_t size);

/* Whether an IP literal is loopback or unspecified (not egress). */
bool detect_ip__is_local(const char *ip, size_t len);

#endif /* AGENTWATCH_DETECT_FEATURES_H */
