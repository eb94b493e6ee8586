"""Evaluation: metrics (PSNR, SSIM, LPIPS, FID), the Table 1 protocol (``evaluate``), figures and views."""
