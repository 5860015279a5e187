from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="pix2gan",
    version="0.1.0",
    description="Image-to-image GANs where the discriminator is the loss: colorization, next-frame prediction, "
    "selectable GAN losses, blur measured against L2 baselines.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["pix2gan", "pix2gan.*"]),
    package_data={"pix2gan": ["weights/*.pt", "web/*"]},
    python_requires=">=3.11",
    install_requires=[
        "torch>=2.2",
        "torchvision>=0.17",
        "kornia>=0.7",
        "pillow>=10",
        "scikit-image>=0.22",
        "tqdm>=4.60",
        "numpy>=1.24",
        "matplotlib>=3.7",
        "av>=13",  # PyAV: video files (FFmpeg inside its wheel)
    ],
    extras_require={
        "export": ["onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18", "safetensors>=0.4"],
        "watch": ["tensorboard>=2.14"],
        "serve": ["starlette>=0.37", "uvicorn>=0.29", "python-multipart>=0.0.9"],
        "dev": ["pytest>=7", "onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18", "safetensors>=0.4",
                "tensorboard>=2.14", "starlette>=0.37", "uvicorn>=0.29", "python-multipart>=0.0.9", "httpx>=0.27",
                "playwright>=1.40"],
    },
    entry_points={"console_scripts": ["pix2gan=pix2gan.cli:main"]},
)
