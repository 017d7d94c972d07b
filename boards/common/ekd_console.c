/* Console helpers for the harness: text, decimal and hex without printf, so that the
 * firmware stays small enough for a 16 KiB-RAM board and uses a few bytes of stack. */
#include "ekd_board.h"

static size_t text_length(const char *text)
{
    size_t n = 0;
    while (text[n] != '\0') {
        n++;
    }
    return n;
}

void ekd_print(const char *text)
{
    ekd_board_write(text, text_length(text));
}

void ekd_print_u32(uint32_t value)
{
    char digits[10];
    size_t n = sizeof digits;
    do {
        digits[--n] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    ekd_board_write(&digits[n], sizeof digits - n);
}

void ekd_print_hex_u32(uint32_t value)
{
    static const char hex[] = "0123456789abcdef";
    char text[10] = {'0', 'x'};
    for (int i = 0; i < 8; i++) {
        text[2 + i] = hex[(value >> (28 - 4 * i)) & 0xFu];
    }
    ekd_board_write(text, sizeof text);
}

void ekd_print_hex_bytes(const void *data, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *bytes = (const uint8_t *)data;
    char chunk[64]; /* written in chunks: one console call per 32 bytes, not per byte */
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        chunk[used++] = hex[bytes[i] >> 4];
        chunk[used++] = hex[bytes[i] & 0xFu];
        if (used == sizeof chunk) {
            ekd_board_write(chunk, used);
            used = 0;
        }
    }
    if (used != 0) {
        ekd_board_write(chunk, used);
    }
}
