/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agentwatch top's full-screen view (ncurses): the agent list, and the drill-in view of one
 * agent. It owns the terminal from top_view__run() until it returns, and gives it back on every
 * way out: q, SIGINT/SIGTERM/SIGHUP, an error, and a crash (a fatal signal restores the saved
 * terminal mode before the default action runs).
 */
#ifndef AGENTWATCH_TOP_VIEW_H
#define AGENTWATCH_TOP_VIEW_H

#include "top_model.h"
#include "top_source.h"

struct top_view_opts {
	int delay_ms; /* between snapshots */
};

/* Run until the user quits or a terminating signal arrives. Returns 0 or -errno. */
int top_view__run(struct top_model *m, struct top_source *src, const struct top_view_opts *opts);

/*
 * The columns that fit a screen `cols` wide, and their widths (0 = not shown). The pod column
 * is left out when no agent has a pod or container, syscalls/s when no agent's syscalls are
 * observed.
 */
void top_view__layout(int cols, const struct top_model *m, int widths[TOP_COL__COUNT]);

#endif /* AGENTWATCH_TOP_VIEW_H */
