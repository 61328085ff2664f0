/*
 * libFuzzer driver: keyset cursors (src/rest/cursor.c). The input, as a
 * string, goes to rest_cursor_decode() (what a client sends as ?after= /
 * ?before=); its first bytes also make a struct rest_cursor that must
 * survive encode -> decode unchanged, and the encoding must fit
 * REST_CURSOR_MAX (a random string never passes the check bytes, so the
 * round trip is what reaches the accepting path).
 *
 *   make fuzz                 (every target; corpus in tests/fuzz/corpus/fuzz_cursor)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rest_cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct rest_cursor c;
    if (rest_cursor_decode(s, &c)) {
        char again[REST_CURSOR_MAX];
        rest_cursor_encode(&c, again);
        if (strcmp(again, s) != 0)      /* one encoding per cursor */
            abort();
    }
    free(s);

    if (size >= 19) {
        struct rest_cursor in = { .kind = data[0], .sort = data[1], .desc = data[2] & 1 };
        memcpy(&in.key, data + 3, 8);
        memcpy(&in.id, data + 11, 8);
        char enc[REST_CURSOR_MAX + 8];
        memset(enc, 'x', sizeof enc);
        rest_cursor_encode(&in, enc);
        if (memchr(enc, '\0', REST_CURSOR_MAX) == NULL)
            abort();
        struct rest_cursor out;
        if (!rest_cursor_decode(enc, &out) || out.kind != in.kind || out.sort != in.sort ||
            out.desc != in.desc || out.key != in.key || out.id != in.id)
            abort();
    }
    return 0;
}
