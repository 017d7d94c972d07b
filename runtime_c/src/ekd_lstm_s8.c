/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM in TFLM's integer form: int8 input, weights and output,
 * int16 gates and cell state. Bit-exact with TFLM's reference kernel (lstm_eval.h); the
 * numpy reference edgekd/reference/lstm.py states the arithmetic step by step.
 *
 * Each time step, for every batch row: each gate is the sum (int16, saturating) of two
 * int8 x int8 products requantized to Q3.12 (input with bias, previous hidden state
 * without), squashed by the int16 sigmoid (tanh for the cell gate) to Q0.15; then
 * cell = sat16(forget * cell + input * cell_gate), clipped; hidden = int8(tanh(cell) *
 * output gate), which is also the step's output. Both states start at their reset values
 * (hidden at its zero point, cell at 0) on every call and live in the scratch buffer:
 * 4 gate rows of int16, the cell row of int16, the hidden row of int8 (per batch row).
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"

enum { kGates = 4, kCellGate = 2 };

/* TFLite's int16 sigmoid table, sigmoid(i/24) in unsigned 0.16
 * (edgekd/reference/lstm_tables.py; tests/reference/test_lstm.py checks the copy). */
static const uint16_t ekd_sigmoid_table[256] = {
    32768u, 33451u, 34133u, 34813u, 35493u, 36169u, 36843u, 37513u, 38180u, 38841u,
    39498u, 40149u, 40794u, 41432u, 42064u, 42688u, 43304u, 43912u, 44511u, 45102u,
    45683u, 46255u, 46817u, 47369u, 47911u, 48443u, 48964u, 49475u, 49975u, 50464u,
    50942u, 51409u, 51865u, 52311u, 52745u, 53169u, 53581u, 53983u, 54374u, 54755u,
    55125u, 55485u, 55834u, 56174u, 56503u, 56823u, 57133u, 57433u, 57724u, 58007u,
    58280u, 58544u, 58800u, 59048u, 59288u, 59519u, 59743u, 59959u, 60168u, 60370u,
    60565u, 60753u, 60935u, 61110u, 61279u, 61441u, 61599u, 61750u, 61896u, 62036u,
    62172u, 62302u, 62428u, 62549u, 62666u, 62778u, 62886u, 62990u, 63090u, 63186u,
    63279u, 63368u, 63454u, 63536u, 63615u, 63691u, 63765u, 63835u, 63903u, 63968u,
    64030u, 64090u, 64148u, 64204u, 64257u, 64308u, 64357u, 64405u, 64450u, 64494u,
    64536u, 64576u, 64614u, 64652u, 64687u, 64721u, 64754u, 64786u, 64816u, 64845u,
    64873u, 64900u, 64926u, 64950u, 64974u, 64997u, 65019u, 65039u, 65060u, 65079u,
    65097u, 65115u, 65132u, 65149u, 65164u, 65179u, 65194u, 65208u, 65221u, 65234u,
    65246u, 65258u, 65269u, 65280u, 65291u, 65301u, 65310u, 65319u, 65328u, 65337u,
    65345u, 65352u, 65360u, 65367u, 65374u, 65381u, 65387u, 65393u, 65399u, 65404u,
    65410u, 65415u, 65420u, 65425u, 65429u, 65433u, 65438u, 65442u, 65445u, 65449u,
    65453u, 65456u, 65459u, 65462u, 65465u, 65468u, 65471u, 65474u, 65476u, 65479u,
    65481u, 65483u, 65485u, 65488u, 65489u, 65491u, 65493u, 65495u, 65497u, 65498u,
    65500u, 65501u, 65503u, 65504u, 65505u, 65507u, 65508u, 65509u, 65510u, 65511u,
    65512u, 65513u, 65514u, 65515u, 65516u, 65517u, 65517u, 65518u, 65519u, 65520u,
    65520u, 65521u, 65522u, 65522u, 65523u, 65523u, 65524u, 65524u, 65525u, 65525u,
    65526u, 65526u, 65526u, 65527u, 65527u, 65528u, 65528u, 65528u, 65529u, 65529u,
    65529u, 65529u, 65530u, 65530u, 65530u, 65530u, 65531u, 65531u, 65531u, 65531u,
    65531u, 65532u, 65532u, 65532u, 65532u, 65532u, 65532u, 65533u, 65533u, 65533u,
    65533u, 65533u, 65533u, 65533u, 65533u, 65534u, 65534u, 65534u, 65534u, 65534u,
    65534u, 65534u, 65534u, 65534u, 65534u, 65535u,
};

/* x >> shift rounding toward minus infinity, also for negative x (C99 leaves >> of a
 * negative value to the implementation). */
static int32_t ekd_floor_shift(int32_t x, int32_t shift)
{
    return x >= 0 ? x >> shift : -(int32_t)(((uint32_t)(-(x + 1)) >> shift) + 1u);
}

static int32_t ekd_clamp16(int32_t x)
{
    return x < -32768 ? -32768 : (x > 32767 ? 32767 : x);
}

/* TFLite's int16 LOGISTIC of a Q3.12 value (input multiplier 3), Q0.15 result. */
static int16_t ekd_sigmoid_q15(int32_t x)
{
    const int32_t scaled = x * 3;
    const uint32_t magnitude = (uint32_t)(scaled < 0 ? -scaled : scaled);
    const uint32_t segment = magnitude >> 9;
    uint32_t result;

    if (segment >= 255u) {
        result = 0x7FFFu << 10;
    } else {
        const uint32_t low = ekd_sigmoid_table[segment];
        const uint32_t high = ekd_sigmoid_table[segment + 1u];
        result = (low << 9) + (magnitude & 0x1FFu) * (high - low);
    }
    result = scaled >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
    return (int16_t)(result >> 10);
}

/* TFLite's int16 TANH: (x * multiplier + rounding) >> shift indexes the table. */
static int16_t ekd_tanh_q15(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t rounding = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    const int32_t scaled = ekd_floor_shift(x * multiplier + rounding, shift);
    const uint32_t magnitude = (uint32_t)(scaled < 0 ? -scaled : scaled);
    const uint32_t segment = magnitude >> 8;
    int32_t result;

    if (segment >= 255u) {
        result = (int32_t)0xFFFF << 8;
    } else {
        const uint32_t low = ekd_sigmoid_table[segment];
        const uint32_t high = ekd_sigmoid_table[segment + 1u];
        result = (int32_t)((low << 8) + (magnitude & 0xFFu) * (high - low));
    }
    result = scaled >= 0 ? result - ((int32_t)1 << 23) + (1 << 7)
                         : -result + ((int32_t)1 << 23) + (1 << 7) - 1;
    return (int16_t)ekd_floor_shift(result, 8);
}

/* One gate's int8 x int8 product of a row of `depth` values, requantized to Q3.12. */
static int32_t ekd_gate_product(const int8_t *x, int32_t offset, const int8_t *w,
                                int32_t depth, int32_t bias, int32_t multiplier,
                                int32_t shift)
{
    int32_t acc = bias;
    int32_t j;
    for (j = 0; j < depth; ++j) {
        acc += (int32_t)w[j] * ((int32_t)x[j] + offset);
    }
    return ekd_clamp16(ekd_multiply_by_quantized_multiplier(acc, multiplier, shift));
}

int32_t ekd_lstm_s8_scratch_size(const ekd_lstm_params *params)
{
    /* 4 gates and the cell state (int16), the hidden state (int8), per batch row. */
    return params->batch * params->units * (kGates * 2 + 2 + 1);
}

static int ekd_lstm_params_valid(const ekd_lstm_params *p)
{
    int g;
    if (p->batch < 1 || p->time_steps < 1 || p->input_size < 1 || p->units < 1 ||
        (p->clip_cell && p->cell_clip < 0) || p->cell_tanh_shift < 0 || p->cell_tanh_shift > 30) {
        return 0;
    }
    for (g = 0; g < kGates; ++g) {
        if (p->input_shift[g] < -31 || p->input_shift[g] > 30 ||
            p->recurrent_shift[g] < -31 || p->recurrent_shift[g] > 30) {
            return 0;
        }
    }
    return 1;
}

ekd_status ekd_lstm_s8(const ekd_context *ctx, const ekd_lstm_params *params,
                       const ekd_lstm_weights *weights, const int8_t *input, int8_t *output)
{
    const ekd_lstm_params *p = params;
    int32_t rows, t, b, u, g;
    int16_t *gates, *cell;
    int8_t *hidden;

    if (p == NULL || weights == NULL || input == NULL || output == NULL || ctx == NULL ||
        !ekd_lstm_params_valid(p)) {
        return EKD_ERROR_ARGUMENT;
    }
    for (g = 0; g < kGates; ++g) {
        if (weights->input_weights[g] == NULL || weights->recurrent_weights[g] == NULL) {
            return EKD_ERROR_ARGUMENT;
        }
    }
    if (ctx->buf == NULL || ctx->size < ekd_lstm_s8_scratch_size(p)) {
        return EKD_ERROR_SCRATCH;
    }
    rows = p->batch * p->units;
    gates = (int16_t *)ctx->buf;
    cell = gates + kGates * rows;
    hidden = (int8_t *)(cell + rows);
    for (u = 0; u < rows; ++u) { /* no C library: the runtime is freestanding */
        cell[u] = 0;
        hidden[u] = (int8_t)p->hidden_zero_point;
    }

    for (t = 0; t < p->time_steps; ++t) {
        for (b = 0; b < p->batch; ++b) {
            const int32_t step = p->time_major ? t * p->batch + b : b * p->time_steps + t;
            const int8_t *x = input + (size_t)step * p->input_size;
            const int8_t *h = hidden + (size_t)b * p->units;
            for (g = 0; g < kGates; ++g) {
                int16_t *gate = gates + g * rows + b * p->units;
                for (u = 0; u < p->units; ++u) {
                    const int32_t bias = weights->bias[g] ? weights->bias[g][u] : 0;
                    const int32_t from_input = ekd_gate_product(
                        x, p->input_offset,
                        weights->input_weights[g] + (size_t)u * p->input_size,
                        p->input_size, bias, p->input_multiplier[g], p->input_shift[g]);
                    const int32_t from_hidden = ekd_gate_product(
                        h, p->hidden_offset,
                        weights->recurrent_weights[g] + (size_t)u * p->units, p->units, 0,
                        p->recurrent_multiplier[g], p->recurrent_shift[g]);
                    const int32_t pre = ekd_clamp16(from_input + from_hidden);
                    gate[u] = g == kCellGate ? ekd_tanh_q15(pre, 3, 0) : ekd_sigmoid_q15(pre);
                }
            }
        }
        /* Every gate has read the previous hidden state: update the states. */
        for (b = 0; b < p->batch; ++b) {
            const int32_t step = p->time_major ? t * p->batch + b : b * p->time_steps + t;
            int8_t *out = output + (size_t)step * p->units;
            for (u = 0; u < p->units; ++u) {
                const int32_t i = b * p->units + u;
                const int32_t kept = ekd_clamp16(ekd_multiply_by_quantized_multiplier(
                    (int32_t)gates[rows + i] * cell[i], p->forget_multiplier, p->forget_shift));
                const int32_t added = ekd_clamp16(ekd_multiply_by_quantized_multiplier(
                    (int32_t)gates[i] * gates[kCellGate * rows + i], p->update_multiplier,
                    p->update_shift));
                int32_t c = ekd_clamp16(kept + added);
                int32_t y;
                if (p->clip_cell) {
                    c = c < -p->cell_clip ? -p->cell_clip : (c > p->cell_clip ? p->cell_clip : c);
                }
                cell[i] = (int16_t)c;
                y = p->hidden_zero_point + ekd_multiply_by_quantized_multiplier(
                    (int32_t)ekd_tanh_q15(c, p->cell_tanh_multiplier, p->cell_tanh_shift) *
                        gates[3 * rows + i],
                    p->hidden_multiplier, p->hidden_shift);
                y = y < -128 ? -128 : (y > 127 ? 127 : y);
                hidden[i] = (int8_t)y;
                out[u] = (int8_t)y;
            }
        }
    }
    return EKD_OK;
}
