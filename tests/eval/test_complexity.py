from hyco.eval.complexity import complexity
from hyco.image import FactorizedPrior


def test_macs_by_hand_for_the_factorized_prior():
    n, m = 8, 12
    c = complexity(FactorizedPrior(n, m), 64, 64)
    # g_a: 4 convs 5x5 s2: outputs at 1/2,1/4,1/8,1/16 of the pixels; GDNs n*n per element
    enc = 25 * (3 * n / 4 + n * n / 16 + n * n / 64 + n * m / 256) + n * n * (
        1 / 4 + 1 / 16 + 1 / 64) * 1.0
    assert c["encoder_macs_per_pixel"] == enc
    dec = 25 * (m * n / 256 + n * n / 64 + n * n / 16 + n * 3 / 4) + n * n * (
        1 / 64 + 1 / 16 + 1 / 4)
    assert c["decoder_macs_per_pixel"] == dec
    assert c["encoder_params"] > 0 and c["decoder_params"] > 0
