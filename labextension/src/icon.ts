import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2 3 6.5v11L12 22l9-4.5v-11L12 2Zm0 2.24 6.9 3.45L12 11.14 5.1 7.69 12 4.24ZM5 9.3l6 3v7.46l-6-3V9.3Zm8 10.46V12.3l6-3v7.46l-6 3Z"/>
  </g>
</svg>`;

export const ocIcon = new LabIcon({ name: 'oc-jupyter:panel', svgstr: svg });
