// SPDX-License-Identifier: Apache-2.0
/*
 * Derived features: see detect_features.h. The tables are the one place to extend what counts
 * as sensitive; docs/detect.md lists them.
 */
#include <stdbool.h>
#include <string.h>

#include "detect_features.h"

static const char *const class_names[DETECT_PC__COUNT] = {
	[DETECT_PC_NONE] = "none",
	[DETECT_PC_SSH_KEY] = "ssh-key",
	[DETECT_PC_CLOUD_CRED] = "cloud-credentials",
	[DETECT_PC_ENV_FILE] = "env-file",
	[DETECT_PC_SHADOW] = "shadow",
	[DETECT_PC_BROWSER] = "browser-profile",
	[DETECT_PC_TOKEN] = "token-file",
	[DETECT_PC_GPG] = "gpg-keyring",
};

const char *detect_path_class__name(enum detect_path_class c)
{
	return (unsigned int)c < DETECT_PC__COUNT ? class_names[c] : "unknown";
}

static bool has_prefix(const char *s, size_t len, const char *pre)
{
	size_t n = strlen(pre);

	return len >= n && !memcmp(s, pre, n);
}

static bool has_suffix(const char *s, size_t len, const char *suf)
{
	size_t n = strlen(suf);

	return len >= n && !memcmp(s + len - n, suf, n);
}

static bool contains(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	return len >= n && memmem(s, len, needle, n) != NULL;
}

/* The path after the home directory ("/home/u/x" -> "x", "/root/x" -> "x"), or NULL. */
static const char *home_rest(const char *p, size_t len, size_t *rest_len)
{
	const char *slash;

	if (has_prefix(p, len, "/root/")) {
		*rest_len = len - 6;
		return p + 6;
	}
	if (!has_prefix(p, len, "/home/"))
		return NULL;
	slash = memchr(p + 6, '/', len - 6);
	if (!slash)
		return NULL;
	*rest_len = len - (size_t)(slash + 1 - p);
	return slash + 1;
}

/* A relative path under home against a prefix list. */
static bool home_match(const char *rest, size_t n, const char *const *prefixes)
{
	for (; *prefixes; prefixes++)
		if (has_prefix(rest, n, *prefixes))
			return true;
	return false;
}

/* Whether "/<name>" starts at a component boundary anywhere in the path, for any name. */
static bool any_component(const char *p, size_t len, const char *const *names)
{
	for (; *names; names++) {
		size_t n = strlen(*names);
		const char *s = p, *end = p + len;

		while ((s = memmem(s, (size_t)(end - s), *names, n))) {
			if (s > p && s[-1] == '/')
				return true;
			s++;
		}
	}
	return false;
}

enum detect_path_class detect_path__class(const char *p, size_t len)
{
	static const char *const ssh[] = {".ssh/id_", ".ssh/authorized_keys", NULL};
	static const char *const cloud[] = {
		".aws/credentials", ".aws/config", ".config/gcloud/", ".azure/", ".kube/config",
		".oci/config",	    NULL};
	static const char *const browser[] = {".mozilla/firefox/", ".config/google-chrome/",
					      ".config/chromium/", ".config/BraveSoftware/",
					      "snap/firefox/",	   NULL};
	static const char *const token[] = {".git-credentials",
					    ".netrc",
					    ".npmrc",
					    ".pypirc",
					    ".docker/config.json",
					    ".config/gh/hosts.yml",
					    ".cargo/credentials",
					    NULL};
	static const char *const gpg[] = {".gnupg/", ".password-store/", ".local/share/keyrings/",
					  NULL};
	const char *base;
	size_t blen;

	if (has_prefix(p, len, "/etc/shadow") || has_prefix(p, len, "/etc/gshadow") ||
	    has_prefix(p, len, "/etc/sudoers"))
		return DETECT_PC_SHADOW;
	if (has_prefix(p, len, "/etc/ssh/ssh_host_") && has_suffix(p, len, "_key"))
		return DETECT_PC_SSH_KEY;
	if (has_prefix(p, len, "/var/run/secrets/") || has_prefix(p, len, "/run/secrets/"))
		return DETECT_PC_CLOUD_CRED;
	base = detect_path__basename(p, len, &blen);
	if ((blen == 4 && !memcmp(base, ".env", 4)) || (blen > 5 && !memcmp(base, ".env.", 5)))
		return DETECT_PC_ENV_FILE;
	/* Home-relative names, under any directory: agents' HOME is often not in /home
	 * (sandboxes, containers, CI), so "/.aws/credentials" counts wherever it is. */
	if (any_component(p, len, ssh) && !has_suffix(p, len, ".pub"))
		return DETECT_PC_SSH_KEY;
	if (any_component(p, len, cloud))
		return DETECT_PC_CLOUD_CRED;
	if (any_component(p, len, browser))
		return DETECT_PC_BROWSER;
	if (any_component(p, len, token))
		return DETECT_PC_TOKEN;
	if (any_component(p, len, gpg))
		return DETECT_PC_GPG;
	return DETECT_PC_NONE;
}

const char *detect_path__basename(const char *path, size_t len, size_t *out_len)
{
	const char *s = path + len;

	while (s > path && s[-1] != '/')
		s--;
	*out_len = (size_t)(path + len - s);
	return s;
}

bool detect_path__is_archiver(const char *path, size_t len)
{
	static const char *const tools[] = {"tar",  "bsdtar", "zip",   "7z",	 "7za",	 "7zr",
					    "gzip", "pigz",   "bzip2", "xz",	 "zstd", "rar",
					    "cpio", "lz4",    "lzma",  "gpgtar", NULL};
	const char *const *t;
	const char *b;
	size_t n;

	b = detect_path__basename(path, len, &n);
	for (t = tools; *t; t++)
		if (strlen(*t) == n && !memcmp(*t, b, n))
			return true;
	return false;
}

bool detect_path__is_writable_dir(const char *p, size_t len)
{
	const char *rest;
	size_t rlen;

	if (has_prefix(p, len, "/tmp/") || has_prefix(p, len, "/var/tmp/") ||
	    has_prefix(p, len, "/dev/shm/") || has_prefix(p, len, "/run/user/"))
		return true;
	rest = home_rest(p, len, &rlen);
	return rest && (has_prefix(rest, rlen, ".cache/") || has_prefix(rest, rlen, ".local/tmp/"));
}

bool detect_path__is_persistence(const char *p, size_t len)
{
	static const char *const home[] = {".bashrc",
					   ".bash_profile",
					   ".profile",
					   ".zshrc",
					   ".config/autostart/",
					   ".config/systemd/user/",
					   ".ssh/authorized_keys",
					   NULL};
	const char *rest;
	size_t rlen;

	if (has_prefix(p, len, "/etc/cron") || has_prefix(p, len, "/var/spool/cron/") ||
	    has_prefix(p, len, "/etc/systemd/system/") || has_prefix(p, len, "/etc/profile.d/") ||
	    has_prefix(p, len, "/etc/ld.so.preload") || contains(p, len, "/.git/hooks/"))
		return true;
	rest = home_rest(p, len, &rlen);
	return rest && home_match(rest, rlen, home);
}

size_t detect_path__fold(const char *path, size_t len, char *out, size_t size)
{
	const char *rest;
	size_t rlen, n = 0;

	if (!size)
		return 0;
	rest = home_rest(path, len, &rlen);
	if (rest && size > 2) {
		out[n++] = '~';
		out[n++] = '/';
		path = rest;
		len = rlen;
	}
	if (len > size - 1 - n)
		len = size - 1 - n;
	memcpy(out + n, path, len);
	n += len;
	out[n] = '\0';
	return n;
}

static bool is_hexish(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '-' || c == '_' || c == '+' || c == '=';
}

size_t detect_cmd__shape(const char *cmd, size_t len, char *out, size_t size)
{
	size_t i = 0, n = 0;
	bool space = false;

	if (!size)
		return 0;
	while (i < len && n + 2 < size) {
		char c = cmd[i];
		size_t j;
		size_t digits = 0;

		if (c == ' ' || c == '\t' || c == '\n') {
			space = true;
			i++;
			continue;
		}
		if (space && n) {
			out[n++] = ' ';
			space = false;
		}
		/* Home directories fold as in paths. */
		if ((c == '/') && (i + 6 <= len) && !memcmp(cmd + i, "/home/", 6)) {
			const char *slash = memchr(cmd + i + 6, '/', len - i - 6);

			if (slash) {
				out[n++] = '~';
				i = (size_t)(slash - cmd);
				continue;
			}
		}
		/* A long run of token characters with digits: an id, hash or key. */
		for (j = i; j < len && is_hexish(cmd[j]); j++)
			digits += cmd[j] >= '0' && cmd[j] <= '9';
		if (j - i >= 16 && digits >= 4) {
			out[n++] = 'H';
			i = j;
			continue;
		}
		if (c >= '0' && c <= '9') {
			while (i < len && cmd[i] >= '0' && cmd[i] <= '9')
				i++;
			out[n++] = 'N';
			continue;
		}
		out[n++] = c;
		i++;
	}
	out[n] = '\0';
	return n;
}

bool detect_ip__is_local(const char *ip, size_t len)
{
	return has_prefix(ip, len, "127.") || (len == 3 && !memcmp(ip, "::1", 3)) ||
	       (len == 7 && !memcmp(ip, "0.0.0.0", 7)) || (len == 2 && !memcmp(ip, "::", 2));
}
