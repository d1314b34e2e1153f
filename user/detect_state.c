// SPDX-License-Identifier: Apache-2.0
/*
 * Detector state on disk and in blobs: a header, then stage 1 and/or stage 2 as their own
 * save functions write them (detect_agent.c, detect_campaign.c).
 *
 *   "AWDS" u32 version  u32 parts (bit 0: stage 1, bit 1: stage 2)  [stage 1]  [stage 2]
 *
 * The format is this build's memory layout (each part checks its own record sizes): state is
 * for restarts and rebalances of the same version, not an archive. A file is written to
 * "<path>.tmp" and renamed, so a crash leaves the previous checkpoint whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect_run.h"
#include "log.h"

#define STATE_MAGIC   0x53445741u /* "AWDS" */
#define STATE_VERSION 1u

static int state_write(FILE *f, const struct detect_stage1 *s1, const struct detect_stage2 *s2)
{
	uint32_t hdr[3] = {STATE_MAGIC, STATE_VERSION, (s1 ? 1u : 0u) | (s2 ? 2u : 0u)};
	int err;

	if (fwrite(hdr, sizeof(hdr), 1, f) != 1)
		return -EIO;
	if (s1 && (err = detect_stage1__save(s1, f)))
		return err;
	if (s2 && (err = detect_stage2__save(s2, f)))
		return err;
	return 0;
}

static int state_read(FILE *f, const struct detect_config *cfg, struct detect_stage1 **s1,
		      struct detect_stage2 **s2)
{
	uint32_t hdr[3];

	*s1 = NULL;
	*s2 = NULL;
	if (fread(hdr, sizeof(hdr), 1, f) != 1 || hdr[0] != STATE_MAGIC || hdr[1] != STATE_VERSION)
		return -EINVAL;
	if ((hdr[2] & 1) && !(*s1 = detect_stage1__load(cfg, f)))
		return -EINVAL;
	if ((hdr[2] & 2) && !(*s2 = detect_stage2__load(cfg, f))) {
		detect_stage1__free(*s1);
		*s1 = NULL;
		return -EINVAL;
	}
	return 0;
}

int detect_state__save_file(const char *path, const struct detect_stage1 *s1,
			    const struct detect_stage2 *s2)
{
	char tmp[4096];
	FILE *f;
	int err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return log_errno(errno, "detect: state '%s'", tmp);
	err = state_write(f, s1, s2);
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return log_errno(err, "detect: state '%s': save", path);
	}
	return 0;
}

int detect_state__load_file(const char *path, const struct detect_config *cfg,
			    struct detect_stage1 **s1, struct detect_stage2 **s2)
{
	FILE *f = fopen(path, "r");
	int err;

	*s1 = NULL;
	*s2 = NULL;
	if (!f)
		return -errno;
	err = state_read(f, cfg, s1, s2);
	fclose(f);
	if (err)
		log_error("detect: state '%s': not a state file of this version", path);
	return err;
}

int detect_state__blob(const struct detect_stage1 *s1, const struct detect_stage2 *s2, char **data,
		       size_t *len)
{
	FILE *f = open_memstream(data, len);
	int err;

	if (!f)
		return -errno;
	err = state_write(f, s1, s2);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (err) {
		free(*data);
		*data = NULL;
	}
	return err;
}

int detect_state__from_blob(const char *data, size_t len, const struct detect_config *cfg,
			    struct detect_stage1 **s1, struct detect_stage2 **s2)
{
	FILE *f = fmemopen((void *)data, len, "r");
	int err;

	if (!f)
		return -errno;
	err = state_read(f, cfg, s1, s2);
	fclose(f);
	return err;
}
