// Copy buttons on the portal: copy the text of the element named by data-copy.
document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const label = button.firstChild;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    label.textContent = 'Copied';
  } catch {
    // No clipboard (insecure context, permissions): select the text to copy by hand.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    label.textContent = 'Press Ctrl+C';
  }
  setTimeout(() => { label.textContent = 'Copy'; }, 2000);
});
