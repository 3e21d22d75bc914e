// WGSL files are bundled as text by esbuild (loader: text).
declare module '*.wgsl' {
  const code: string;
  export default code;
}
