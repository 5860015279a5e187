"""Networks: the U-Net generator, the PatchGAN discriminator, and for latent models the encoder and the code
discriminator. They never see a loss."""

from pix2gan.nets.latent import CodeDiscriminator, Encoder, prior_codes
from pix2gan.nets.patchgan import PatchDiscriminator, patch_receptive_field
from pix2gan.nets.unet import SubPixelUp, UNet

__all__ = ["UNet", "PatchDiscriminator", "Encoder", "CodeDiscriminator", "prior_codes", "patch_receptive_field", "init_weights"]


def init_weights(net, std: float = 0.02) -> None:
    """pix2pix initialisation: conv weights ~ N(0, std), norm scales ~ N(1, std), biases 0, then ICNR for sub-pixel
    upsampling layers (in place)."""
    from torch import nn

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    for m in net.modules():
        if isinstance(m, SubPixelUp):
            m.icnr_()
