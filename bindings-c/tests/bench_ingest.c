/*
 * Bulk-ingest benchmark: N pod events (plus one namespace) as JSON lines,
 * applied to a fresh engine with one sp_engine_apply_json_lines call.
 * Prints events/s (best of 3). Run by `SLICEPLANE_BENCH=1 bash bindings-c/test.sh`.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sliceplane.h"

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    size_t cap = (size_t)n * 512 + 1024, len = 0;
    char *lines = malloc(cap);
    if (lines == NULL) return 1;
    len += (size_t)snprintf(lines + len, cap - len,
                            "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                            "\"metadata\":{\"name\":\"default\"}}}\n");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(
            lines + len, cap - len,
            "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
            "\"metadata\":{\"name\":\"web-%d\",\"namespace\":\"default\",\"labels\":{\"app\":\"app-%d\"}},"
            "\"spec\":{\"nodeName\":\"node-1\",\"containers\":[]},"
            "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.%d.%d.%d\",\"podIPs\":[{\"ip\":\"10.%d.%d.%d\"}]}}}\n",
            i, i % 50, i >> 16 & 255, i >> 8 & 255, i & 255, i >> 16 & 255, i >> 8 & 255, i & 255);
    }
    const char *yaml = "source: pods\nseed: 1\n";
    double best = 0;
    for (int round = 0; round < 3; round++) {
        sp_config *cfg = NULL;
        sp_engine *eng = NULL;
        sp_buffer rej = {0};
        if (sp_config_from_yaml((const uint8_t *)yaml, strlen(yaml), &cfg, NULL) != SP_OK) return 1;
        if (sp_engine_new(cfg, &eng, NULL) != SP_OK) return 1;
        double t0 = seconds();
        if (sp_engine_apply_json_lines(eng, (const uint8_t *)lines, len, 1, &rej, NULL) != SP_OK) return 1;
        double dt = seconds() - t0;
        if (strcmp((const char *)rej.data, "[]") != 0) {
            fprintf(stderr, "rejected: %.200s\n", (const char *)rej.data);
            return 1;
        }
        double rate = (n + 1) / dt;
        if (rate > best) best = rate;
        printf("round %d: %d events in %.3f s = %.0f events/s\n", round, n + 1, dt, rate);
        sp_buffer_free(&rej);
        sp_engine_free(eng);
        sp_config_free(cfg);
    }
    printf("C bulk ingest (apply_json_lines): best %.0f events/s (%.1f MB of JSON lines)\n", best, (double)len / 1e6);
    free(lines);
    return 0;
}
