// Confab's file worker (src/platform/file_worker.rs): the app's own wasm in a module
// worker, storing received file chunks off the page's thread. The page's first message
// names its wasm-bindgen glue and hands over its compiled WebAssembly.Module; the
// binary's main() sees no window and runs the worker side, which answers "ready".
self.onmessage = async (event) => {
  self.onmessage = null;
  try {
    const glue = await import(event.data.glue);
    await glue.default({ module_or_path: event.data.module });
  } catch (error) {
    self.postMessage({ op: "opened", error: `the file worker could not load: ${error}` });
  }
};
